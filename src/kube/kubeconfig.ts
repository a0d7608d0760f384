// How the controller and the agent reach the API server: a KubeConnection (server URL, TLS material,
// credentials) read from a kubeconfig, from the pod's service account, or from a plain URL, without the
// Kubernetes client library (whose import alone costs ~75 MiB of memory).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import type * as https from 'node:https';
import yaml from 'js-yaml';
import { authProviderCredentials, execCredentials, tokenFileCredentials, type CredentialSource, type Credentials, type ExecConfig } from './credentials.ts';

/** The in-cluster service account files (token, ca.crt, namespace). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Static TLS settings of a connection; credentials may add a client certificate per request. */
export interface TlsSettings {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** False with insecure-skip-tls-verify. */
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

/** One API server with the credentials to use there. */
export class KubeConnection {
  constructor(
    /** Base URL without a trailing slash, for example https://10.0.0.1:443. */
    readonly server: string,
    readonly tls: TlsSettings,
    private readonly credentials: CredentialSource,
    /** The context's namespace (in a pod: the service account's), when one is named. */
    readonly namespace: string | undefined,
    /** Where it came from, for messages: a file, "in-cluster", a URL. */
    readonly source: string,
  ) {}

  /** Sets TLS options, the Authorization header and basic auth on `options` for one request; returns the credentials it used. */
  async applyTo(options: https.RequestOptions): Promise<Credentials> {
    const creds = await this.credentials();
    const { ca, cert, key, rejectUnauthorized, servername } = this.tls;
    if (ca !== undefined) options.ca = ca;
    const clientCert = creds.cert ?? cert;
    const clientKey = creds.key ?? key;
    if (clientCert !== undefined) options.cert = clientCert;
    if (clientKey !== undefined) options.key = clientKey;
    options.rejectUnauthorized = rejectUnauthorized;
    if (servername !== undefined) options.servername = servername;
    if (creds.authorization !== undefined) options.headers = { ...options.headers, Authorization: creds.authorization };
    return creds;
  }

  /** The server answered 401 to a request sent with `used`: a refreshable credential is fetched anew next time. */
  unauthorized(used: Credentials): void {
    this.credentials.invalidate?.(used);
  }
}

const noCredentials: CredentialSource = () => Promise.resolve({});

/** Where a kubeconfig came from: relative paths in it resolve against `dir`. */
interface KubeconfigSource {
  readonly text: string;
  /** The file, when read from one. */
  readonly file?: string;
  readonly dir: string;
}

type Yaml = Record<string, unknown>;

function fail(source: string, field: string, expected: string): never {
  throw new Error(`kubeconfig ${source}: ${field}: expected ${expected}`);
}

function obj(source: string, field: string, value: unknown): Yaml {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(source, field, 'a mapping');
  return value as Yaml;
}

function str(source: string, field: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') fail(source, field, 'a string');
  return value;
}

function named(source: string, list: 'clusters' | 'users' | 'contexts', doc: Yaml, name: string, referredBy: string): Yaml {
  const entries = doc[list] ?? [];
  if (!Array.isArray(entries)) fail(source, list, 'a list of {name, …} entries');
  const found = (entries as unknown[]).find((e) => (e as Yaml | null)?.['name'] === name) as Yaml | undefined;
  if (found === undefined) fail(source, referredBy, `the name of an entry of ${list} (none is named "${name}")`);
  const inner = list.slice(0, -1); // cluster, user, context
  return obj(source, `${list}[${name}].${inner}`, found[inner]);
}

/** File contents, or base64 data, or undefined; a file that cannot be read names its field. */
function material(source: string, dir: string, field: string, file: unknown, data: unknown): Buffer | undefined {
  const dataText = str(source, `${field}-data`, data);
  if (dataText !== undefined) return Buffer.from(dataText, 'base64');
  const fileName = str(source, field, file);
  if (fileName === undefined) return undefined;
  const resolved = path.resolve(dir, fileName);
  try {
    return readFileSync(resolved);
  } catch (err) {
    throw new Error(`kubeconfig ${source}: ${field}: cannot read ${resolved}: ${(err as Error).message}`, { cause: err });
  }
}

function parse(src: KubeconfigSource, label: string): Yaml {
  let doc: unknown;
  try {
    doc = yaml.load(src.text);
  } catch (err) {
    throw new Error(`kubeconfig ${label}: not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) fail(label, '(document)', 'a mapping with clusters, users, contexts and current-context');
  return doc as Yaml;
}

function userCredentials(label: string, src: KubeconfigSource, user: Yaml, userName: string, contextName: string, cluster: Yaml): { creds: CredentialSource; cert?: Buffer; key?: Buffer } {
  const field = (f: string): string => `users[${userName}].user.${f}`;
  const cert = material(label, src.dir, field('client-certificate'), user['client-certificate'], user['client-certificate-data']);
  const key = material(label, src.dir, field('client-key'), user['client-key'], user['client-key-data']);
  if ((cert === undefined) !== (key === undefined)) fail(label, field(cert === undefined ? 'client-certificate' : 'client-key'), 'both client-certificate and client-key, or neither');
  const tls = { ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
  const token = str(label, field('token'), user['token']);
  const tokenFile = str(label, field('tokenFile'), user['tokenFile']);
  const username = str(label, field('username'), user['username']);
  const password = str(label, field('password'), user['password']);
  if (user['auth-provider'] !== undefined && user['auth-provider'] !== null) {
    return { ...tls, creds: authProviderCredentials(src.file === undefined ? { text: src.text } : { file: src.file }, contextName) };
  }
  if (user['exec'] !== undefined && user['exec'] !== null) {
    return { ...tls, creds: execCredentials(execConfig(label, src.dir, field('exec'), obj(label, field('exec'), user['exec'])), cluster) };
  }
  if (token !== undefined) {
    const header: Credentials = { authorization: `Bearer ${token}` };
    return { ...tls, creds: () => Promise.resolve(header) };
  }
  if (tokenFile !== undefined) return { ...tls, creds: tokenFileCredentials(path.resolve(src.dir, tokenFile), Date.now) };
  if (username !== undefined) {
    const header: Credentials = { authorization: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` };
    return { ...tls, creds: () => Promise.resolve(header) };
  }
  return { ...tls, creds: noCredentials };
}

function execConfig(label: string, dir: string, field: string, exec: Yaml): ExecConfig {
  const apiVersion = str(label, `${field}.apiVersion`, exec['apiVersion']);
  const versions = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];
  if (apiVersion === undefined || !versions.includes(apiVersion)) fail(label, `${field}.apiVersion`, `one of ${versions.join(', ')}`);
  const command = str(label, `${field}.command`, exec['command']) ?? fail(label, `${field}.command`, 'the plugin executable');
  const args = exec['args'] ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) fail(label, `${field}.args`, 'a list of strings');
  const env = exec['env'] ?? [];
  if (!Array.isArray(env) || env.some((e) => typeof (e as Yaml | null)?.['name'] !== 'string' || typeof (e as Yaml)['value'] !== 'string')) fail(label, `${field}.env`, 'a list of {name, value} strings');
  const interactiveMode = str(label, `${field}.interactiveMode`, exec['interactiveMode']);
  if (interactiveMode === 'Always') fail(label, `${field}.interactiveMode`, 'Never or IfAvailable (the operator runs without a terminal)');
  return {
    apiVersion,
    // As client-go: a relative path with a separator is relative to the kubeconfig; a bare name is looked up in PATH.
    command: command.includes('/') ? path.resolve(dir, command) : command,
    args: args as string[],
    env: Object.fromEntries((env as { name: string; value: string }[]).map((e) => [e.name, e.value])),
    provideClusterInfo: exec['provideClusterInfo'] === true,
    describe: `${field} (${command})`,
  };
}

/**
 * A connection from kubeconfig text: the current context (or `contextName`), its cluster and its user.
 * Throws an Error naming the field and the expected form for anything missing or malformed.
 */
export function connectionFromKubeconfig(src: KubeconfigSource, contextName?: string): KubeConnection {
  const label = src.file ?? '(text)';
  const doc = parse(src, label);
  const current = contextName ?? str(label, 'current-context', doc['current-context']) ?? fail(label, 'current-context', 'the name of an entry of contexts');
  const context = named(label, 'contexts', doc, current, contextName === undefined ? 'current-context' : 'context');
  const clusterName = str(label, `contexts[${current}].context.cluster`, context['cluster']) ?? fail(label, `contexts[${current}].context.cluster`, 'the name of an entry of clusters');
  const userName = str(label, `contexts[${current}].context.user`, context['user']);
  const cluster = named(label, 'clusters', doc, clusterName, `contexts[${current}].context.cluster`);
  const user = userName === undefined ? {} : named(label, 'users', doc, userName, `contexts[${current}].context.user`);
  const cf = (f: string): string => `clusters[${clusterName}].cluster.${f}`;
  const server = str(label, cf('server'), cluster['server']) ?? fail(label, cf('server'), 'the API server URL, for example https://10.0.0.1:6443');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    fail(label, cf('server'), `an http or https URL, got "${server}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(label, cf('server'), `an http or https URL, got "${server}"`);
  if (str(label, cf('proxy-url'), cluster['proxy-url']) !== undefined) fail(label, cf('proxy-url'), 'no proxy (perseus connects directly; remove proxy-url or reach the API server without one)');
  const ca = material(label, src.dir, cf('certificate-authority'), cluster['certificate-authority'], cluster['certificate-authority-data']);
  const skip = cluster['insecure-skip-tls-verify'];
  if (skip !== undefined && skip !== null && typeof skip !== 'boolean') fail(label, cf('insecure-skip-tls-verify'), 'true or false');
  const servername = str(label, cf('tls-server-name'), cluster['tls-server-name']);
  const { creds, cert, key } = userCredentials(label, src, user, userName ?? '', current, { ...cluster });
  const tls: TlsSettings = {
    rejectUnauthorized: skip !== true,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(servername === undefined ? {} : { servername }),
  };
  const namespace = str(label, `contexts[${current}].context.namespace`, context['namespace']);
  return new KubeConnection(server.replace(/\/+$/, ''), tls, creds, namespace, label);
}

/** A connection from kubeconfig YAML text (for example the embedded API server's); relative paths resolve against `dir`. */
export function connectionFromYaml(text: string, dir: string = process.cwd()): KubeConnection {
  return connectionFromKubeconfig({ text, dir });
}

/** A connection from a kubeconfig file; relative paths in it resolve against the file's directory. */
export function connectionFromFile(file: string): KubeConnection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot load kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  return connectionFromKubeconfig({ text, file, dir: path.dirname(path.resolve(file)) });
}

/** A connection to a plain-http server without credentials (TLS verification off should it be https). */
export function connectionForUrl(url: string): KubeConnection {
  return new KubeConnection(url.replace(/\/+$/, ''), { rejectUnauthorized: false }, noCredentials, 'default', url);
}

/**
 * The pod's own connection: https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT with the service
 * account's CA and token; the token file is re-read at most once a minute (bound tokens rotate).
 */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir: string = SERVICE_ACCOUNT_DIR): KubeConnection {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (host === undefined || host === '' || port === undefined || port === '') throw new Error('in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT: expected both set (as in a pod)');
  const tokenFile = path.join(dir, 'token');
  if (!existsSync(tokenFile)) throw new Error(`in-cluster: ${tokenFile}: expected the service account token (is automountServiceAccountToken off?)`);
  let ca: Buffer;
  try {
    ca = readFileSync(path.join(dir, 'ca.crt'));
  } catch (err) {
    throw new Error(`in-cluster: ${path.join(dir, 'ca.crt')}: expected the cluster's CA certificate: ${(err as Error).message}`, { cause: err });
  }
  let namespace: string | undefined;
  try {
    namespace = readFileSync(path.join(dir, 'namespace'), 'utf8').trim();
  } catch {
    namespace = undefined; // optional: only a default for callers that want one
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new KubeConnection(server, { ca, rejectUnauthorized: true }, tokenFileCredentials(tokenFile, Date.now), namespace, 'in-cluster');
}

/** Where loadConnection looks; injectable for tests. */
export interface LoadOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly serviceAccountDir?: string;
  readonly homeDir?: string;
}

/**
 * The connection every component starts with: `kubeconfig` (a path) when given; else in-cluster when
 * KUBERNETES_SERVICE_HOST is set and the service account token is mounted; else KUBECONFIG, a list
 * separated by the platform's delimiter (":"), of which the first existing file that names a
 * current-context is used whole (files are not merged, unlike kubectl); else ~/.kube/config.
 */
export function loadConnection(kubeconfig?: string, options: LoadOptions = {}): KubeConnection {
  const env = options.env ?? process.env;
  const saDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (kubeconfig !== undefined) return connectionFromFile(kubeconfig);
  if (env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync(path.join(saDir, 'token'))) return inClusterConnection(env, saDir);
  const listed = (env['KUBECONFIG'] ?? '').split(path.delimiter).filter((f) => f !== '');
  for (const file of listed) {
    if (!existsSync(file)) continue;
    const doc = parse({ text: readFileSync(file, 'utf8'), dir: path.dirname(file) }, file);
    if (typeof doc['current-context'] === 'string' && doc['current-context'] !== '') return connectionFromFile(file);
  }
  if (listed.length > 0) throw new Error(`KUBECONFIG: expected a file with a current-context among ${listed.join(path.delimiter)}`);
  const home = path.join(options.homeDir ?? env['HOME'] ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return connectionFromFile(home);
  throw new Error(`no API server: pass --kubeconfig, set KUBECONFIG, create ${home}, or run in a pod with a service account token`);
}
