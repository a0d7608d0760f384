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
import { ClientKubeApi, EVENTS, JOBS, kubeConfigFromYaml, PODS, RANKS, type KubeApi } from '../../src/kube/client.ts';
import { ClientKubeletApi } from '../../src/sim/kubelet-api.ts';
import { runSimulation, type SimulationResult } from '../../src/sim/simulate/simulation.ts';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, uniqueSuffix } from '../support/envtest.ts';
import { describeOnServers, startTestServer, type TestServer } from '../support/servers.ts';
import { a100SimulationOptions } from './helpers.ts';

const ITERATIONS = 12;
const VICTIM = 'gpt3-p1-s3';

interface Observed {
  readonly uids: ReadonlyMap<string, string>;
  readonly profile: JobStatus['profile'];
}

/** Polls until the job runs with a plan and all 16 worker pods run, then force-deletes VICTIM. */
async function deleteOneWorkerWhenRunning(api: KubeApi, namespace: string, run: Promise<unknown>): Promise<Observed> {
  let finished = false;
  void run.finally(() => (finished = true)).catch(() => undefined);
  for (;;) {
    if (finished) throw new Error('the simulation ended before the worker pods were all running');
    const job = await api.get(JOBS, namespace, 'gpt3');
    const status = job?.['status'] as JobStatus | undefined;
    const pods = (await api.list(PODS, namespace)).items.filter((p) => p.metadata.labels?.['perseus.energy/role'] === 'worker');
    const running = pods.filter((p) => (p['status'] as { phase?: string } | undefined)?.phase === 'Running');
    if (status?.phase === 'Running' && (status.plan?.generation ?? 0) >= 1 && running.length === 16) {
      const uids = new Map(pods.map((p) => [p.metadata.name, p.metadata.uid ?? '']));
      assert.ok(await api.delete(PODS, namespace, VICTIM, { gracePeriodSeconds: 0 }), 'deleted the worker pod');
      return { uids, profile: status.profile };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
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
    const api = new ClientKubeApi(kubeConfigFromYaml(server.kubeconfigYaml()));
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
});
