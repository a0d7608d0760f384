// The non-resource paths of the API server: discovery (/api, /apis and their groups and versions),
// /version, health checks and OpenAPI v2 and v3, as kubectl and client libraries read them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, notAcceptable } from './errors.ts';
import { sendJson } from './http-reply.ts';
import { openApiV2, openApiV3, openApiV3Index } from './openapi.ts';
import type { Registry, ResourceType } from './resources.ts';

/** Serves a non-resource path (discovery, version, health, OpenAPI); 404 for anything else. */
export function serveNonResource(registry: Registry, req: IncomingMessage, res: ServerResponse, parts: string[], url: URL, port: number): void {
  const path = `/${parts.join('/')}`;
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  const host = req.headers.host ?? `127.0.0.1:${port}`;
  if (path === '/api') {
    sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] });
    return;
  }
  if (path === '/apis') {
    const groups = [...registry.groups()].filter(([g]) => g !== '').map(([name, versions]) => groupDoc(name, versions));
    sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
    return;
  }
  if (parts[0] === 'apis' && parts.length === 2) {
    const versions = registry.groups().get(parts[1] ?? '');
    if (versions === undefined || parts[1] === '') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(parts[1] ?? '', versions) });
    return;
  }
  if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
    const group = parts[0] === 'api' ? '' : (parts[1] ?? '');
    const version = parts[parts.length - 1] ?? '';
    const types = registry.all().filter((r) => r.group === group && r.version === version);
    if (types.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    sendJson(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources: resourceDocs(types) });
    return;
  }
  if (path === '/version') {
    sendJson(res, 200, { major: '1', minor: '35', emulationMajor: '1', emulationMinor: '35', minCompatibilityMajor: '1', minCompatibilityMinor: '34', gitVersion: 'v1.35.0', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-12-17T00:00:00Z', goVersion: 'go1.25.5', compiler: 'gc', platform: 'linux/amd64' });
    return;
  }
  if (path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('ok');
    return;
  }
  if (path === '/openapi/v2') {
    const accept = req.headers.accept ?? '';
    if (accept !== '' && !/json|\*\/\*/.test(accept)) throw notAcceptable('only the following media types are accepted: application/json');
    sendJson(res, 200, openApiV2(registry));
    return;
  }
  if (path === '/openapi/v3') {
    sendJson(res, 200, openApiV3Index(registry));
    return;
  }
  if (parts[0] === 'openapi' && parts[1] === 'v3' && parts.length >= 4) {
    const rest = parts.slice(2);
    const group = rest[0] === 'api' ? '' : (rest[1] ?? '');
    const version = rest[rest.length - 1] ?? '';
    if (!registry.all().some((r) => r.group === group && r.version === version)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const headers: Record<string, string> = url.searchParams.has('hash') ? { 'Cache-Control': 'public, immutable', Expires: new Date(Date.now() + 365 * 86400_000).toUTCString() } : {};
    sendJson(res, 200, openApiV3(registry, group, version), headers);
    return;
  }
  throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

function groupDoc(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

function resourceDocs(types: ResourceType[]): unknown[] {
  const out: unknown[] = [];
  for (const r of types) {
    const doc: Record<string, unknown> = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames.length > 0) doc['shortNames'] = r.shortNames;
    if (r.categories.length > 0) doc['categories'] = r.categories;
    out.push(doc);
    if (r.hasStatus) out.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
    if (r.scale !== undefined) out.push({ name: `${r.plural}/scale`, singularName: '', namespaced: r.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
    if (r.hasBinding) out.push({ name: `${r.plural}/binding`, singularName: '', namespaced: r.namespaced, kind: 'Binding', verbs: ['create'] });
    if (r.kind === 'Namespace' && r.builtin) out.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
  }
  return out;
}
