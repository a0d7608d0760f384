// The credentials a KubeConnection sends with each request: a token file re-read as it rotates, an exec
// plugin's ExecCredential cached until it expires, or (legacy auth-provider users only) whatever the
// Kubernetes client library computes, imported lazily so that everyone else never pays for it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What one request carries besides the connection's static TLS settings. */
export interface Credentials {
  /** The Authorization header value (Bearer or Basic). */
  readonly authorization?: string;
  /** A client certificate and key (PEM) from an exec plugin; they replace the kubeconfig's. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/**
 * Resolves the credentials of the next request (cheap when cached). `invalidate`, when present, is told
 * of credentials the server answered 401 to: a cached credential that is still the one sent is dropped, so
 * the next request gets a fresh one (an exec plugin runs again, a token file is read again), as client-go does.
 */
export type CredentialSource = (() => Promise<Credentials>) & { invalidate?(rejected: Credentials): void };

/** How often a token file is read again: bound service account tokens rotate (kubelet refreshes at 80 % of their life). */
export const TOKEN_FILE_REREAD_MS = 60_000;

/** A bearer token read from `file`, re-read when the last read is older than TOKEN_FILE_REREAD_MS. */
export function tokenFileCredentials(file: string, now: () => number): CredentialSource {
  let cached: { value: Credentials; readAtMs: number } | undefined;
  const source = (): Promise<Credentials> => {
    if (cached === undefined || now() - cached.readAtMs >= TOKEN_FILE_REREAD_MS) {
      let token: string;
      try {
        token = readFileSync(file, 'utf8').trim();
      } catch (err) {
        return Promise.reject(new Error(`tokenFile ${file}: cannot read the bearer token: ${(err as Error).message}`, { cause: err }));
      }
      cached = { value: { authorization: `Bearer ${token}` }, readAtMs: now() };
    }
    return Promise.resolve(cached.value);
  };
  return Object.assign(source, {
    invalidate(rejected: Credentials): void {
      if (cached?.value === rejected) cached = undefined;
    },
  });
}

/** A kubeconfig user's exec section, checked. */
export interface ExecConfig {
  readonly apiVersion: string;
  /** Absolute, or a bare name looked up in PATH. */
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the process's environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly provideClusterInfo: boolean;
  /** The field and command, for messages. */
  readonly describe: string;
}

/** How long a plugin may run before its credential request fails. */
const EXEC_TIMEOUT_MS = 60_000;

/** The spec.cluster of KUBERNETES_EXEC_INFO, from the kubeconfig's cluster entry. */
function clusterInfo(cluster: Record<string, unknown>): Record<string, unknown> {
  const extensions = Array.isArray(cluster['extensions']) ? (cluster['extensions'] as { name?: unknown; extension?: unknown }[]) : [];
  const config = extensions.find((e) => e.name === 'client.authentication.k8s.io/exec')?.extension;
  const info: Record<string, unknown> = { server: cluster['server'] };
  for (const key of ['tls-server-name', 'insecure-skip-tls-verify', 'certificate-authority-data', 'proxy-url', 'disable-compression']) {
    if (cluster[key] !== undefined && cluster[key] !== null) info[key] = cluster[key];
  }
  if (config !== undefined) info['config'] = config;
  return info;
}

interface ExecResult {
  readonly credentials: Credentials;
  /** Infinity when the plugin gave no expirationTimestamp. */
  readonly expiresAtMs: number;
}

function runPlugin(exec: ExecConfig, cluster: Record<string, unknown>): Promise<ExecResult> {
  const info = { apiVersion: exec.apiVersion, kind: 'ExecCredential', spec: { interactive: false, ...(exec.provideClusterInfo ? { cluster: clusterInfo(cluster) } : {}) } };
  const env = { ...process.env, ...exec.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  return new Promise((resolve, reject) => {
    const child = execFile(exec.command, [...exec.args], { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`${exec.describe}: the credential plugin failed: ${err.message.trim()}${stderr.trim() === '' ? '' : `: ${stderr.trim().slice(0, 500)}`}`, { cause: err }));
        return;
      }
      try {
        resolve(parseExecCredential(exec, stdout));
      } catch (parseErr) {
        reject(parseErr);
      }
    });
    child.stdin?.end();
  });
}

/** Checks the plugin's ExecCredential and extracts its token or client certificate. */
export function parseExecCredential(exec: Pick<ExecConfig, 'apiVersion' | 'describe'>, stdout: string): ExecResult {
  const bad = (what: string): Error => new Error(`${exec.describe}: the credential plugin's output: ${what}`);
  let cred: { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
  try {
    cred = JSON.parse(stdout) as typeof cred;
  } catch {
    throw bad(`expected an ExecCredential as JSON, got "${stdout.slice(0, 200)}"`);
  }
  if (cred.kind !== 'ExecCredential') throw bad(`kind: expected ExecCredential, got ${JSON.stringify(cred.kind)}`);
  if (cred.apiVersion !== exec.apiVersion) throw bad(`apiVersion: expected ${exec.apiVersion} (as in the kubeconfig), got ${JSON.stringify(cred.apiVersion)}`);
  const status = cred.status ?? {};
  const token = status['token'];
  const certData = status['clientCertificateData'];
  const keyData = status['clientKeyData'];
  if (typeof certData === 'string' !== (typeof keyData === 'string')) throw bad('status: expected both clientCertificateData and clientKeyData, or neither');
  if (typeof token !== 'string' && typeof certData !== 'string') throw bad('status: expected token or clientCertificateData and clientKeyData');
  const credentials: Credentials = {
    ...(typeof token === 'string' ? { authorization: `Bearer ${token}` } : {}),
    ...(typeof certData === 'string' && typeof keyData === 'string' ? { cert: Buffer.from(certData), key: Buffer.from(keyData) } : {}),
  };
  const expiry = status['expirationTimestamp'];
  let expiresAtMs = Infinity;
  if (expiry !== undefined && expiry !== null) {
    expiresAtMs = typeof expiry === 'string' ? Date.parse(expiry) : NaN;
    if (Number.isNaN(expiresAtMs)) throw bad(`status.expirationTimestamp: expected an RFC 3339 time, got ${JSON.stringify(expiry)}`);
  }
  return { credentials, expiresAtMs };
}

/**
 * Runs the exec plugin when there is no unexpired credential (concurrent requests share one run) and
 * caches its answer until status.expirationTimestamp, or until the server answers 401 to it; a failed run
 * is not cached.
 */
export function execCredentials(exec: ExecConfig, cluster: Record<string, unknown>, now: () => number = Date.now): CredentialSource {
  let cached: ExecResult | undefined;
  let running: Promise<ExecResult> | undefined;
  const source = async (): Promise<Credentials> => {
    if (cached !== undefined && cached.expiresAtMs > now()) return cached.credentials;
    running ??= runPlugin(exec, cluster).finally(() => (running = undefined));
    cached = await running;
    return cached.credentials;
  };
  return Object.assign(source, {
    invalidate(rejected: Credentials): void {
      if (cached?.credentials === rejected) cached = undefined;
    },
  });
}

/**
 * A legacy auth-provider user (oidc, gcp, azure): the client library computes the header, imported only
 * now, so only such users pay for its memory. `source` is the kubeconfig the connection was read from.
 */
export function authProviderCredentials(source: { file: string } | { text: string }, contextName: string): CredentialSource {
  let config: Promise<{ applyToHTTPSOptions(o: { headers?: Record<string, unknown> }): Promise<void> }> | undefined;
  return async () => {
    config ??= import('@kubernetes/client-node').then((k8s) => {
      const kc = new k8s.KubeConfig();
      if ('file' in source) kc.loadFromFile(source.file);
      else kc.loadFromString(source.text);
      kc.setCurrentContext(contextName);
      return kc;
    });
    const options: { headers?: Record<string, unknown> } = { headers: {} };
    await (await config).applyToHTTPSOptions(options);
    const authorization = options.headers?.['Authorization'];
    return typeof authorization === 'string' ? { authorization } : {};
  };
}
