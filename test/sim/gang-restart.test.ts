// A gang restart end to end, as a user meets it: perseus simulate --kubeconfig runs a 16-pod job (8 stages
// × 2 pipelines) with the controller, the node agents, the simulated kubelet and workers; once it is
// Running with a plan, one worker pod is deleted with --force. Every worker pod is recreated (new UIDs,
// restart attempt 1), the job succeeds with one restart, the profile is kept (no second profiling) and the
// GangRestart event names the pod. Without gang restarts the lone replacement hangs in its rendezvous and
// the run times out.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobStatus } from '../../src/api/job.ts';
import { allCrds } from '../../src/api/crds.ts';
import { ClientKubeApi, connectionFromYaml, EVENTS, JOBS, PODS, RANKS, type KubeApi } from '../../src/kube/client.ts';
import { kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { ClientKubeletApi } from '../../src/sim/kubelet-api.ts';
import { runSimulation, type SimulationResult } from '../../src/sim/simulate/simulation.ts';
import { defaultJob } from '../../src/sim/simulate/job.ts';
import { createLogger } from '../../src/controller/log.ts';
import { Operator } from '../../src/controller/operator.ts';
import { systemClock } from '../../src/kube/clock.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, uniqueSuffix } from '../support/envtest.ts';
import { describeOnServers, kubeRequest, startTestServer, type TestServer } from '../support/servers.ts';
import { a100SimulationOptions } from './helpers.ts';

const ITERATIONS = 12;
const VICTIM = 'gpt3-p1-s3';

interface Observed {
  readonly uids: ReadonlyMap<string, string>;
  readonly profile: JobStatus['profile'];
}

/** Polls until the job runs with a plan and all 16 worker pods run (their ranks know them), then force-deletes VICTIM. */
async function deleteOneWorkerWhenRunning(api: KubeApi, namespace: string, run: Promise<unknown>): Promise<Observed> {
  let finished = false;
  void run.finally(() => (finished = true)).catch(() => undefined);
  for (;;) {
    if (finished) throw new Error('the simulation ended before the worker pods were all running');
    const job = await api.get(JOBS, namespace, 'gpt3');
    const status = job?.['status'] as JobStatus | undefined;
    const pods = (await api.list(PODS, namespace)).items.filter((p) => p.metadata.labels?.['perseus.energy/role'] === 'worker');
    const running = pods.filter((p) => (p['status'] as { phase?: string } | undefined)?.phase === 'Running');
    // The controller has seen every pod scheduled once each rank records its pod's UID.
    const recorded = (await api.list(RANKS, namespace)).items.filter((r) => (r['spec'] as { podUid?: string }).podUid !== undefined);
    if (status?.phase === 'Running' && (status.plan?.generation ?? 0) >= 1 && running.length === 16 && recorded.length === 16) {
      const uids = new Map(pods.map((p) => [p.metadata.name, p.metadata.uid ?? '']));
      assert.ok(await api.delete(PODS, namespace, VICTIM, { gracePeriodSeconds: 0 }), 'deleted the worker pod');
      return { uids, profile: status.profile };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Once the job runs with every worker pod, marks the node of VICTIM NotReady (again after each simulated-kubelet heartbeat) until the job restarted. */
async function markNodeNotReadyUntilRestart(kc: KubeConfig, api: KubeApi, namespace: string, run: Promise<unknown>): Promise<string> {
  let finished = false;
  void run.finally(() => (finished = true)).catch(() => undefined);
  let node: string | undefined;
  for (;;) {
    if (finished) throw new Error(`the simulation ended before the job restarted (node ${node ?? 'not chosen'})`);
    const status = (await api.get(JOBS, namespace, 'gpt3'))?.['status'] as JobStatus | undefined;
    if ((status?.restarts ?? 0) >= 1 && node !== undefined) {
      // The node comes back (or is replaced): the recreated pods run on Ready nodes.
      await setReady(kc, node, 'True');
      return node;
    }
    if (node === undefined) {
      const pods = (await api.list(PODS, namespace)).items.filter((p) => p.metadata.labels?.['perseus.energy/role'] === 'worker');
      const running = pods.filter((p) => (p['status'] as { phase?: string } | undefined)?.phase === 'Running');
      if (status?.phase === 'Running' && running.length === 16) node = (pods.find((p) => p.metadata.name === VICTIM)?.['spec'] as { nodeName?: string }).nodeName;
    }
    if (node !== undefined) {
      const current = (await kubeRequest(kc, 'GET', `/api/v1/nodes/${node}`)).body as { status?: { conditions?: { type: string; status: string }[] } };
      if (current.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'False') await setReady(kc, node, 'False');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function setReady(kc: KubeConfig, node: string, status: 'True' | 'False'): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const condition = { type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : 'KubeletStopped', message: 'set by the test', lastHeartbeatTime: now, lastTransitionTime: now };
  const res = await kubeRequest(kc, 'PATCH', `/api/v1/nodes/${node}/status`, { status: { conditions: [condition] } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(res.status, 200, res.text);
}

describeOnServers('gang restart: a force-deleted worker pod of a simulated job', function (kind) {
  this.timeout(600_000);
  let server: TestServer;
  let dir: string;

  before(async function () {
    this.timeout(300_000);
    // The chart's identities (and CRDs) outlive this suite: set up before the server records what the suite adds.
    if (kind === 'kube-apiserver') await chartIdentities(await controlPlane());
    server = await startTestServer(kind);
    dir = mkdtempSync(join(tmpdir(), 'perseus-gang-'));
    if (server.embedded !== undefined) await new ClientKubeletApi(kubeConfigFromYaml(server.kubeconfigYaml())).installCrds(allCrds().map((c) => c.crd));
  });

  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restarts all 16 worker pods once under a new attempt; the job succeeds without re-profiling', async () => {
    const namespace = `gang-${uniqueSuffix()}`;
    const kubeconfig = join(dir, `${namespace}.kubeconfig`);
    writeFileSync(kubeconfig, server.kubeconfigYaml());
    const api = new ClientKubeApi(connectionFromYaml(server.kubeconfigYaml()));
    const real = server.controlPlane !== undefined;
    const options = a100SimulationOptions(ITERATIONS, {
      namespace,
      kubeconfig,
      logLevel: 'error',
      // The embedded server binds pods through the simulation; kube-apiserver has kube-scheduler (when present).
      schedulePods: server.controlPlane?.scheduler !== true,
      // On kube-apiserver, round trips take wall time (see simulate-real.test.ts); a hung job fails here.
      timeScale: real ? 50 : 200,
      timeoutMs: real ? 300_000 : 120_000,
    });
    const run: Promise<SimulationResult> = runSimulation(options);
    const before = await deleteOneWorkerWhenRunning(api, namespace, run);
    const result = await run;

    const job = result.jobs[0]!;
    const status = job.status;
    assert.equal(status?.phase, 'Succeeded', `phase ${status?.phase}; conditions ${JSON.stringify(status?.conditions)}`);
    assert.equal(status?.restarts, 1, 'one gang restart');
    assert.deepEqual(status?.failedPods?.map((f) => [f.name, f.reason]), [[VICTIM, 'PodDeleted']]);
    const restarting = status?.conditions?.find((c) => c.type === 'Restarting');
    assert.equal(restarting?.status, 'False');
    assert.equal(restarting?.reason, 'PodsRecreated');
    assert.deepEqual(status?.profile, before.profile, 'the profile is kept');
    assert.equal(job.phases.filter((p) => p.phase === 'Profiling').length, 1, `profiled once: ${job.phases.map((p) => p.phase).join(' → ')}`);
    assert.ok(result.clocksResetAtEnd, 'every simulated GPU clock is reset at the end');

    const pods = (await api.list(PODS, namespace)).items;
    assert.equal(pods.filter((p) => p.metadata.labels?.['perseus.energy/role'] === 'profiler').length, 0, 'no profiling pod after the restart');
    const workers = pods.filter((p) => p.metadata.labels?.['perseus.energy/role'] === 'worker');
    assert.equal(workers.length, 16);
    for (const p of workers) {
      assert.notEqual(p.metadata.uid, before.uids.get(p.metadata.name), `${p.metadata.name} was recreated`);
      assert.equal(p.metadata.labels?.['perseus.energy/restart-attempt'], '1');
      assert.equal((p['status'] as { phase?: string }).phase, 'Succeeded');
    }
    const ranks = (await api.list(RANKS, namespace)).items;
    assert.deepEqual(new Set(ranks.map((r) => (r['spec'] as { attempt?: number }).attempt)), new Set([1]));

    const events = (await api.list(EVENTS, namespace)).items.filter((e) => e['reason'] === 'GangRestart');
    assert.equal(events.length, 1, 'one GangRestart event');
    assert.equal(events[0]!['type'], 'Warning');
    // kube-apiserver may show the force-deleted pod with a deletionTimestamp before it is gone.
    assert.match(String(events[0]!['message']), new RegExp(`^PodDeleted: pod ${VICTIM} (was|is being) deleted`));
  });
  it('a Node NotReady past --node-lost-grace restarts the job (separate controller, wall clock)', async () => {
    const namespace = `gang-node-${uniqueSuffix()}`;
    const kubeconfig = join(dir, `${namespace}.kubeconfig`);
    writeFileSync(kubeconfig, server.kubeconfigYaml());
    const kc = kubeConfigFromYaml(server.kubeconfigYaml());
    const api = new ClientKubeApi(connectionFromYaml(server.kubeconfigYaml()));
    const real = server.controlPlane !== undefined;
    const operator = new Operator({ api: new ClientKubeApi(connectionFromYaml(server.kubeconfigYaml())), clock: systemClock, logger: createLogger('error', true), identity: `gang-${namespace}`, nodeLostGraceMs: 500, namespaces: [namespace] });
    await operator.start();
    try {
      // A separate controller works in wall time: its straggler check is off (as in simulate-real.test.ts).
      // Enough iterations that the job is still training when the grace has passed.
      const job = defaultJob({ pipelines: 2, iterations: 5 * ITERATIONS, namespace });
      (job.spec as { straggler: { enabled: boolean } }).straggler.enabled = false;
      const options = {
        ...a100SimulationOptions(5 * ITERATIONS, { namespace, kubeconfig, logLevel: 'error', runController: false, schedulePods: server.controlPlane?.scheduler !== true, timeScale: real ? 50 : 200, timeoutMs: real ? 300_000 : 120_000 }),
        jobs: [job],
      };
      const run = runSimulation(options);
      const lost = await markNodeNotReadyUntilRestart(kc, api, namespace, run);
      const result = await run;
      const status = result.jobs[0]!.status;
      assert.equal(status?.phase, 'Succeeded', `phase ${status?.phase}; conditions ${JSON.stringify(status?.conditions)}`);
      assert.equal(status?.restarts, 1);
      assert.ok((status?.failedPods ?? []).length > 0 && status!.failedPods!.every((f) => f.reason === 'NodeLost'), JSON.stringify(status?.failedPods));
      const events = (await api.list(EVENTS, namespace)).items.filter((e) => e['reason'] === 'GangRestart');
      assert.equal(events.length, 1);
      assert.match(String(events[0]!['message']), new RegExp(`^NodeLost: node ${lost} of pod gpt3-p\\d-s\\d has been NotReady for \\d+ s`));
      const workers = (await api.list(PODS, namespace)).items.filter((p) => p.metadata.labels?.['perseus.energy/role'] === 'worker');
      assert.equal(workers.length, 16);
      assert.ok(workers.every((p) => p.metadata.labels?.['perseus.energy/restart-attempt'] === '1'));
    } finally {
      await operator.stop();
    }
  });
});
