// Authenticated /metrics on a real kube-apiserver: `perseus controller` and `perseus agent`, run as the
// chart's ServiceAccounts (so their RBAC must allow TokenReview and SubjectAccessReview), serve /metrics over
// TLS and answer 401 without a valid token, 403 to a ServiceAccount not bound to the chart's metrics-reader
// ClusterRole, and 200 with the Prometheus text once it is bound; health probes stay plain HTTP.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { NAMESPACE } from '../../scripts/gen-manifests.ts';
import { chartIdentities, type ChartIdentities } from '../support/chart-identities.ts';
import { controlPlane, envtestUnavailable, freePort, uniqueSuffix, type ControlPlane } from '../support/envtest.ts';
import { get as field, MONITORING_API, one, render } from '../chart/helm.ts';
import { prometheusBinary, PrometheusServer } from '../support/prometheus.ts';

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly tls: boolean;
  readonly peerCertificate?: string;
}

function get(url: string, token?: string): Promise<Reply> {
  const u = new URL(url);
  const transport = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(u, { method: 'GET', rejectUnauthorized: false, agent: false, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const socket = res.socket as TLSSocket;
        const tls = socket.encrypted === true;
        resolve({ status: res.statusCode ?? 0, body, tls, ...(tls ? { peerCertificate: socket.getPeerCertificate().subjectaltname ?? '' } : {}) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until the URL answers (the process is up); gives up after `limitMs` with the process's output. */
async function waitForUp(url: string, proc: Proc, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      await get(url);
      return;
    } catch {
      if (proc.child.exitCode !== null || Date.now() > deadline) throw new Error(`${url} never answered; output:\n${proc.log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

interface Proc {
  readonly child: ChildProcess;
  log: string;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, ['bin/perseus.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, log: '' };
  const keep = (chunk: Buffer): void => {
    p.log = (p.log + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return p;
}

async function stop(p: Proc | undefined): Promise<void> {
  if (p === undefined || p.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

describe('authenticated /metrics on kube-apiserver (TokenReview + SubjectAccessReview)', function () {
  const unavailable = envtestUnavailable();
  if (unavailable) {
    it(`skipped: ${unavailable}`, function () {
      this.skip();
    });
    return;
  }
  this.timeout(120_000);
  let cp: ControlPlane;
  let ids: ChartIdentities;
  let dir: string;
  let controller: Proc | undefined;
  let agent: Proc | undefined;
  const ports = { controllerHealth: 0, controllerMetrics: 0, agentHealth: 0, agentMetrics: 0 };
  let readerToken = '';
  let strangerToken = '';
  let readerRole = '';
  const ns = `metrics-auth-${uniqueSuffix()}`;

  before(async function () {
    this.timeout(300_000);
    cp = await controlPlane();
    ids = await chartIdentities(cp);
    dir = mkdtempSync(join(tmpdir(), 'metrics-auth-'));
    // The chart's ClusterRole for scrapers, as rendered with default values (chartIdentities applied it).
    readerRole = one(await render(), 'ClusterRole', 'perseus-operator-metrics-reader').metadata.name;
    const admin = async (method: string, path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await cp.adminRequest(method, path, body);
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as Record<string, unknown>;
    };
    await admin('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const tokenOf = async (sa: string): Promise<string> => {
      await admin('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
      const tr = await admin('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
      return (tr['status'] as { token: string }).token;
    };
    readerToken = await tokenOf('prometheus');
    strangerToken = await tokenOf('stranger');
    await admin('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${ns}-prometheus` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: readerRole },
      subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: ns }],
    });
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    const controllerKubeconfig = join(dir, 'controller.yaml');
    writeFileSync(controllerKubeconfig, ids.controllerKubeconfig);
    const agentKubeconfig = join(dir, 'agent.yaml');
    writeFileSync(agentKubeconfig, ids.agentKubeconfig);
    controller = start(['controller', '--kubeconfig', controllerKubeconfig, '--namespace', ns, `--http-port=${ports.controllerHealth}`, `--metrics-port=${ports.controllerMetrics}`, '--log-level', 'warn']);
    agent = start([
      'agent',
      '--kubeconfig',
      agentKubeconfig,
      '--node-name',
      ids.nodeName,
      '--namespace',
      ns,
      '--simulated-gpus',
      '1',
      '--gpu-profile',
      'data/perseus-profiles/stage_profile/gpt3-175b+a100_sxm_bf16.csv',
      '--socket',
      join(dir, 'agent.sock'),
      '--pod-resources-socket',
      join(dir, 'kubelet.sock'),
      '--nice=0',
      `--health-port=${ports.agentHealth}`,
      `--metrics-port=${ports.agentMetrics}`,
    ]);
    await waitForUp(`http://127.0.0.1:${ports.controllerHealth}/healthz`, controller);
    await waitForUp(`https://127.0.0.1:${ports.controllerMetrics}/metrics`, controller);
    await waitForUp(`http://127.0.0.1:${ports.agentHealth}/healthz`, agent);
    await waitForUp(`https://127.0.0.1:${ports.agentMetrics}/metrics`, agent);
  });

  after(async function () {
    await stop(controller);
    await stop(agent);
    await cp?.adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ns}-prometheus`);
    await cp?.adminRequest('DELETE', `/api/v1/namespaces/${ns}`);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const components = [
    { name: 'controller', metrics: () => ports.controllerMetrics, health: () => ports.controllerHealth, metric: /^# TYPE perseus_controller_reconcile_total counter$/m, namespace: NAMESPACE },
    { name: 'agent', metrics: () => ports.agentMetrics, health: () => ports.agentHealth, metric: /^perseus_agent_gpu_power_watts\{/m, namespace: NAMESPACE },
  ];
  for (const c of components) {
    describe(c.name, function () {
      it('serves /metrics over TLS only, with a certificate for localhost', async function () {
        const r = await get(`https://127.0.0.1:${c.metrics()}/metrics`);
        assert.equal(r.tls, true);
        assert.match(r.peerCertificate ?? '', /DNS:localhost/);
        assert.match(r.peerCertificate ?? '', /IP Address:127\.0\.0\.1/);
        const plain = await get(`http://127.0.0.1:${c.metrics()}/metrics`).then(
          (reply) => reply.status,
          (err: Error) => err.message,
        );
        assert.notEqual(plain, 200, 'plain HTTP on the metrics port is not served');
      });

      it('answers 401 without a token and with a token the API server does not know', async function () {
        const none = await get(`https://127.0.0.1:${c.metrics()}/metrics`);
        assert.equal(none.status, 401);
        assert.equal(none.body.trim(), 'Unauthorized');
        const bogus = await get(`https://127.0.0.1:${c.metrics()}/metrics`, 'not-a-token');
        assert.equal(bogus.status, 401);
        assert.doesNotMatch(bogus.body, /perseus_/);
      });

      it('answers 403 to a ServiceAccount without the metrics-reader ClusterRole', async function () {
        const r = await get(`https://127.0.0.1:${c.metrics()}/metrics`, strangerToken);
        assert.equal(r.status, 403, r.body);
        assert.equal(r.body.trim(), `Authorization denied for user system:serviceaccount:${ns}:stranger`);
      });

      it('answers 200 with the Prometheus text to a ServiceAccount bound to <release>-metrics-reader', async function () {
        const r = await get(`https://127.0.0.1:${c.metrics()}/metrics`, readerToken);
        assert.equal(r.status, 200, `${r.body}\n${(c.name === 'controller' ? controller : agent)?.log ?? ''}`);
        assert.match(r.body, c.metric);
        assert.match(r.body, /^# TYPE /m);
      });

      it('keeps /healthz and /readyz on the plain port without a token, and no /metrics there', async function () {
        const health = await get(`http://127.0.0.1:${c.health()}/healthz`);
        assert.equal(health.status, 200);
        assert.equal(health.tls, false);
        assert.equal((await get(`http://127.0.0.1:${c.health()}/metrics`)).status, 404);
      });
    });
  }

  describe('a real Prometheus configured as the chart configures its ServiceMonitor and PodMonitor', function () {
    interface MonitorEndpoint {
      scheme: 'http' | 'https';
      tlsConfig?: { insecureSkipVerify?: boolean };
    }
    let prom: PrometheusServer | undefined;
    after(async () => prom?.stop());

    it('scrapes both over https with the reader token (up 1), and is refused with a token lacking the ClusterRole (up 0)', async function () {
      if (prometheusBinary() === undefined) this.skip();
      const objects = await render(MONITORING_API);
      const endpoints = [field<MonitorEndpoint>(one(objects, 'ServiceMonitor'), 'spec', 'endpoints', 0), field<MonitorEndpoint>(one(objects, 'PodMonitor'), 'spec', 'podMetricsEndpoints', 0)];
      const targets = { controller: `127.0.0.1:${ports.controllerMetrics}`, agent: `127.0.0.1:${ports.agentMetrics}` };
      const jobs = (['controller', 'agent'] as const).flatMap((component, i) => {
        const e = endpoints[i] as MonitorEndpoint;
        const common = { targets: [targets[component]], scheme: e.scheme, insecureSkipVerify: e.tlsConfig?.insecureSkipVerify === true };
        return [
          { name: `${component}-reader`, bearerToken: readerToken, ...common },
          { name: `${component}-stranger`, bearerToken: strangerToken, ...common },
        ];
      });
      prom = await PrometheusServer.start({ jobs, scrapeIntervalSeconds: 1 });
      // Wait for two scrapes of every job; then compare what each saw.
      for (;;) {
        const counts = await prom.query('count_over_time(up[1m])');
        if (counts.length === jobs.length && counts.every((c) => Number(c.value?.[1]) >= 2)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const up = Object.fromEntries((await prom.query('up')).map((s) => [s.metric['job'], s.value?.[1]]));
      assert.deepEqual(up, { 'controller-reader': '1', 'controller-stranger': '0', 'agent-reader': '1', 'agent-stranger': '0' });
      const reconciles = await prom.query('count({job="controller-reader", __name__=~"perseus_controller_.*"})');
      assert.ok(Number(reconciles[0]?.value?.[1]) > 0, 'the controller\'s series were ingested');
      const power = await prom.query('perseus_agent_gpu_power_watts{job="agent-reader"}');
      assert.equal(power.length, 1, 'one simulated GPU');
    });
  });

  // A nested suite, so that it runs after the others.
  describe('afterwards', function () {
    it('the processes needed no permission they lack (no failed TokenReview or SubjectAccessReview)', function () {
      assert.doesNotMatch(controller?.log ?? '', /forbidden|Authentication failed|Authorization for user/i, controller?.log);
      assert.doesNotMatch(agent?.log ?? '', /forbidden|Authentication failed|Authorization for user/i, agent?.log);
    });
  });
});
