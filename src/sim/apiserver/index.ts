// The embedded Kubernetes API server: started in-process by tests and by `perseus apiserver`, spoken to
// over real HTTP by @kubernetes/client-node and kubectl exactly like a real cluster.
import { randomBytes } from 'node:crypto';
import { dump as dumpYaml } from 'js-yaml';
import { ApiCore } from './core.ts';
import { ApiHttpServer, type Faults } from './server.ts';

export type { Faults, RequestMatcher, Verb } from './server.ts';
export type { KubeObject } from './json.ts';

/** Options of startApiServer. */
export interface ApiServerOptions {
  /** TCP port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** Loopback address to listen on (default 127.0.0.1). */
  host?: string;
  /** Bearer token the kubeconfig carries (random by default). */
  token?: string;
  /** How many change events the watch history keeps before compaction (default 10,000). */
  historySize?: number;
  /** Interval of watch BOOKMARK events when a watch asks for them (default 60 s, as the real server). */
  bookmarkIntervalMs?: number;
  /** Watch timeout when the client sets no timeoutSeconds (default 1800 s). */
  defaultWatchTimeoutSeconds?: number;
}

/** A running embedded API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** A kubeconfig (YAML) for this server: plain http, insecure-skip-tls-verify, a token user. */
  kubeconfigYaml(): string;
  /** Fault hooks: fail requests, drop or stall watches, compact history. */
  readonly faults: Faults;
  /** Stops listening and closes every connection and watch. */
  stop(): Promise<void>;
  /** Closes every connection and listens again on the same port, keeping all objects. */
  restart(): Promise<void>;
  /** Current global resourceVersion. */
  resourceVersion(): number;
  /** Number of stored objects and open watches (for tests and the benchmark). */
  stats(): { objects: number; watches: number; requests: Record<string, number> };
}

/** Starts an embedded API server on loopback. */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) throw new Error(`startApiServer: host must be a loopback address, got "${host}"`);
  const token = options.token ?? randomBytes(16).toString('hex');
  const core = new ApiCore(options.historySize ?? 10_000);
  const http = new ApiHttpServer(core, {
    host,
    port: options.port ?? 0,
    token,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    defaultWatchTimeoutSeconds: options.defaultWatchTimeoutSeconds ?? 1800,
    maxBodyBytes: 3 * 1024 * 1024,
  });
  await http.listen();
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${http.port}`;
  let running = true;
  return {
    url,
    port: http.port,
    token,
    faults: http.faults,
    kubeconfigYaml: () =>
      dumpYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'perseus', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'perseus-admin', user: { token } }],
        contexts: [{ name: 'perseus', context: { cluster: 'perseus', user: 'perseus-admin', namespace: 'default' } }],
        'current-context': 'perseus',
        preferences: {},
      }),
    stop: async () => {
      running = false;
      await http.close();
    },
    restart: async () => {
      if (!running) throw new Error('restart: the server was stopped');
      await http.close();
      await http.listen();
    },
    resourceVersion: () => core.store.rv,
    stats: () => ({ objects: core.store.size(), watches: http.watchCount(), requests: Object.fromEntries(http.requestCounts) }),
  };
}
