// Kubernetes REST paths: /api/v1/... and /apis/<group>/<version>/..., with namespace, name, subresource
// and the legacy /watch/ prefix; and what the request headers ask for.
/** Parsed resource path. */
export interface Route {
  group: string;
  version: string;
  namespace: string | undefined;
  plural: string;
  name: string | undefined;
  subresource: string | undefined;
  legacyWatch: boolean;
}

/** The resource a path names; undefined for non-resource paths (discovery, OpenAPI, health). */
export function parseResourcePath(parts: string[]): Route | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] ?? '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    version = parts[2] ?? '';
    rest = parts.slice(3);
  } else return undefined;
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  if (plural === undefined || extra.length > 0) return undefined;
  return { group, version, namespace, plural, name, subresource, legacyWatch };
}

/** The default field manager: the User-Agent up to its first slash. */
export function userAgentManager(ua: string | undefined): string {
  const prefix = (ua ?? '').split('/')[0]?.trim() ?? '';
  return prefix === '' ? 'unknown' : prefix.slice(0, 128);
}

/** Whether the client asks for a server-side Table (kubectl get). */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

