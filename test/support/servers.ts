// The API servers a suite runs against: the embedded one (always) and the run's real kube-apiserver (when
// $KUBEBUILDER_ASSETS names its binaries). A suite written with describeOnServers runs unchanged on both;
// what the real server deliberately does differently is excluded by name in ./server-differences.ts.
import * as http from 'node:http';
import * as https from 'node:https';
import type * as k8s from '@kubernetes/client-node';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/sim/apiserver/index.ts';
import { controlPlane, envtestUnavailable, type ControlPlane } from './envtest.ts';
import { realServerExclusion } from './server-differences.ts';

export type ServerKind = 'embedded' | 'kube-apiserver';

export interface TestServer {
  readonly kind: ServerKind;
  readonly url: string;
  /** An administrator's kubeconfig. */
  kubeconfigYaml(): string;
  /** The server's current resourceVersion (a quorum list). */
  resourceVersion(): Promise<number>;
  /** Embedded: stops the server. Real: deletes the namespaces and cluster-scoped objects the suite created. */
  stop(): Promise<void>;
  /** The embedded server itself (fault injection, restart), undefined on the real one. */
  readonly embedded: ApiServer | undefined;
  /** The real control plane, undefined on the embedded server. */
  readonly controlPlane: ControlPlane | undefined;
}

/** Cluster-scoped collections a suite may add to; what it added is removed when it stops. */
const CLUSTER_SCOPED = [
  '/api/v1/namespaces',
  '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  '/api/v1/nodes',
  '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
];

async function namesIn(cp: ControlPlane, path: string): Promise<Set<string>> {
  const res = await cp.adminRequest('GET', path);
  const items = (res.body as { items?: Array<{ metadata: { name: string } }> }).items ?? [];
  return new Set(items.map((i) => i.metadata.name));
}

async function connectReal(): Promise<TestServer> {
  const cp = await controlPlane();
  const before = new Map<string, Set<string>>();
  for (const path of CLUSTER_SCOPED) before.set(path, await namesIn(cp, path));
  return {
    kind: 'kube-apiserver',
    url: cp.url,
    kubeconfigYaml: () => cp.adminKubeconfigYaml,
    resourceVersion: async () => {
      const res = await cp.adminRequest('GET', '/api/v1/namespaces?limit=1');
      return Number((res.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
    },
    stop: async () => {
      const pending: Array<[string, string]> = [];
      for (const path of CLUSTER_SCOPED) {
        const known = before.get(path) ?? new Set();
        for (const name of await namesIn(cp, path)) {
          if (known.has(name)) continue;
          if (path === '/api/v1/namespaces') {
            // No kubelet finishes the graceful deletion of bound pods: do it here, or the namespace stays.
            await cp.adminRequest('DELETE', `${path}/${name}/pods?gracePeriodSeconds=0`);
          }
          const deleted = await cp.adminRequest('DELETE', `${path}/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
          if (deleted.status >= 300 && deleted.status !== 404) console.warn(`  (could not delete ${path}/${name}: ${deleted.status} ${JSON.stringify(deleted.body)})`);
          pending.push([path, name]);
        }
      }
      // Namespaces go once the controller manager's namespace controller emptied them; later suites may
      // reuse their names, so wait (bounded: objects a test left with a finalizer keep theirs) until gone.
      // CRDs first: a later suite recreates the same test types.
      pending.sort(([a], [b]) => Number(b.includes('customresourcedefinitions')) - Number(a.includes('customresourcedefinitions')));
      const started = Date.now();
      const left: string[] = [];
      for (const [path, name] of pending) {
        // A CRD goes once kube-apiserver deleted its objects (itself); a namespace needs the controller manager.
        const crd = path.includes('customresourcedefinitions');
        const deadline = started + (crd ? 60_000 : cp.controllerManager ? 40_000 : 2_000);
        for (let round = 0; ; round++) {
          const got = await cp.adminRequest('GET', `${path}/${name}`);
          if (got.status === 404) break;
          // Bound pods the namespace controller deleted wait for a kubelet that is not there: finish them.
          if (path === '/api/v1/namespaces' && round % 10 === 9) await cp.adminRequest('DELETE', `${path}/${name}/pods?gracePeriodSeconds=0`);
          if (Date.now() > deadline) {
            const conditions = (got.body as { status?: { conditions?: Array<{ type: string; status: string; message?: string }> } }).status?.conditions ?? [];
            left.push(`${path}/${name} (${conditions.filter((c) => c.status === 'True' || c.type.includes('Deletion') || c.type.includes('Terminating')).map((c) => `${c.type}: ${c.message ?? ''}`).join('; ')})`);
            break;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      if (left.length > 0) console.warn(`  (still being deleted after the suite: ${left.join(', ')})`);
    },
    embedded: undefined,
    controlPlane: cp,
  };
}

/** Starts (embedded) or connects to (real) a server of the given kind. */
export async function startTestServer(kind: ServerKind, options: ApiServerOptions = {}): Promise<TestServer> {
  if (kind === 'kube-apiserver') return connectReal();
  const server = await startApiServer(options);
  return {
    kind,
    url: server.url,
    kubeconfigYaml: () => server.kubeconfigYaml(),
    resourceVersion: async () => server.resourceVersion(),
    stop: () => server.stop(),
    embedded: server,
    controlPlane: undefined,
  };
}

/**
 * Declares `body` once per server kind: "<title> [embedded]" and "<title> [kube-apiserver]". Without the
 * real server's assets the second is one skipped test that says why. On the real server, tests listed in
 * server-differences.ts are skipped with their reason.
 */
export function describeOnServers(title: string, body: (this: Mocha.Suite, kind: ServerKind) => void): void {
  describe(`${title} [embedded]`, function () {
    body.call(this, 'embedded');
  });
  describe(`${title} [kube-apiserver]`, function () {
    const unavailable = envtestUnavailable();
    if (unavailable) {
      it(`skipped: ${unavailable}`, function () {
        this.skip();
      });
      return;
    }
    // Starting the control plane (first suite only) takes 10–30 s on 2 cores.
    before(async function () {
      this.timeout(300_000);
      await controlPlane();
    });
    beforeEach(function () {
      const test = this.currentTest;
      if (!test) return;
      const reason = realServerExclusion(test.titlePath().map((t) => t.replace(/ \[kube-apiserver\]$/, '')));
      if (reason) {
        test.title += ` (embedded only: ${reason})`;
        this.skip();
      }
    });
    body.call(this, 'kube-apiserver');
  });
}

/** Sends a request with the kubeconfig's credentials (bearer token or client certificate); parses JSON. */
export async function kubeRequest(
  kc: k8s.KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const url = new URL(path, server);
  const opts: https.RequestOptions = { method, headers: { Accept: 'application/json', ...headers } };
  await kc.applyToHTTPSOptions(opts);
  const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  if (data !== undefined) {
    (opts.headers as Record<string, string>)['Content-Type'] ??= 'application/json';
    // A length, not a chunked body: kube-apiserver answers a chunked DELETE body with 400 on a reused connection.
    (opts.headers as Record<string, string>)['Content-Length'] = String(Buffer.byteLength(data));
  }
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON: callers read `text`
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}
