// The real controller against the embedded API server over HTTP; the tests play the node agents (rank
// status) and the kubelet (pod phases) and assert on the resulting objects.
import assert from 'node:assert/strict';
import { Harness, jobManifest, waitFor, waitForPhase } from './harness.ts';
import { describeOnServers } from '../support/servers.ts';

describeOnServers('controller lifecycle', function (kind) {
  this.timeout(90_000);
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.start('ml', kind);
  });
  afterEach(async () => {
    await h.stop();
  });

  it('runs a job Pending → Profiling → Planning → Running → Succeeded', async () => {
    await h.startOperator('a');
    await h.createJob(jobManifest());
    await waitForPhase(h, 'gpt', 'Profiling');
    const profiling = await waitFor('profiling pods', async () => {
      const pods = await h.pods();
      return pods.length === 3 ? pods : undefined;
    });
    assert.deepEqual(profiling.map((p) => p.metadata?.name).sort(), ['gpt-profile-s0', 'gpt-profile-s1', 'gpt-profile-s2']);
    const ranks = await waitFor('profiling ranks', async () => {
      const r = await h.ranks();
      return r.length === 3 && r.every((x) => x.spec.tokenSha256 !== undefined) ? r : undefined;
    });
    assert.ok(ranks.every((r) => r.spec.mode === 'Profile'));
    await h.reportProfiles('gpt', 3);
    const running = await waitForPhase(h, 'gpt', 'Running');
    assert.equal(running.status?.plan?.generation, 1);
    assert.ok((running.status?.plan?.expectedSavingsRatio ?? 0) > 0);
    const cm = await h.core.readNamespacedConfigMap({ name: 'gpt-perseus', namespace: h.ns });
    assert.ok(cm.data?.['profile.csv'] && cm.data['frontier.csv'] && cm.data['planner.json']);
    const workers = await waitFor('worker pods and run ranks', async () => {
      const pods = (await h.pods()).filter((p) => p.metadata?.labels?.['perseus.energy/role'] === 'worker');
      const r = await h.ranks();
      return pods.length === 6 && r.length === 6 && r.every((x) => x.spec.mode === 'Run' && x.spec.plan?.generation === 1) ? pods : undefined;
    });
    // Profiling pods end by graceful deletion, which the (simulated) kubelet confirms asynchronously.
    await waitFor('profiling pods gone', async () => ((await h.pods()).length === 6 ? true : undefined));
    const svc = await h.core.readNamespacedService({ name: 'gpt', namespace: h.ns });
    assert.equal(svc.spec?.clusterIP, 'None');
    for (const pod of workers) await h.setPodPhase(pod.metadata?.name ?? '', 'Succeeded');
    const done = await waitForPhase(h, 'gpt', 'Succeeded');
    assert.ok(done.status?.completionTime);
    await waitFor('ranks idle', async () => (await h.ranks()).every((r) => r.spec.mode === 'Idle'));
    // Events are written asynchronously (and aggregated by the real server): wait until each has arrived.
    const expected = ['Accepted', 'ProfilingStarted', 'Created', 'ProfileCollected', 'Planned', 'Completed'];
    const reasons = await waitFor('events', async () => {
      const seen = new Set((await h.events()).map((e) => e.reason));
      return expected.every((r) => seen.has(r)) ? seen : undefined;
    }).catch(async () => new Set((await h.events()).map((e) => e.reason)));
    for (const r of expected) assert.ok(reasons.has(r), `event ${r} (seen: ${[...reasons].join(', ')})`);
  });

  it('replans on a straggler report and restores the plan on recovery', async () => {
    await h.startOperator('a');
    await h.createJob(jobManifest());
    await waitForPhase(h, 'gpt', 'Profiling');
    await waitFor('ranks', async () => (await h.ranks()).length === 3);
    await h.reportProfiles('gpt', 3);
    const running = await waitForPhase(h, 'gpt', 'Running');
    await waitFor('run ranks', async () => (await h.ranks()).length === 6);
    const planned = running.status?.plan?.plannedIterationSeconds ?? 0;
    for (let p = 0; p < 2; p++) {
      for (let s = 0; s < 3; s++) {
        const t = p === 1 ? planned * 1.5 : planned;
        await h.reportRank(`gpt-p${p}-s${s}`, { appliedPlanGeneration: 1, recentIterationSeconds: [t, t, t] });
      }
    }
    const replanned = await waitFor('replan', async () => {
      const job = await h.job('gpt');
      return job.status?.plan?.generation === 2 ? job : undefined;
    });
    assert.deepEqual(replanned.status?.stragglers?.map((s) => s.pipeline), [1]);
    assert.ok(replanned.status?.conditions?.some((c) => c.type === 'StragglerDetected' && c.status === 'True'));
    const ranks = await waitFor('ranks on generation 2', async () => {
      const r = await h.ranks();
      return r.every((x) => x.spec.plan?.generation === 2) ? r : undefined;
    });
    const healthy = ranks.find((r) => r.metadata.name === 'gpt-p0-s0')?.spec.plan?.modelIterationSeconds ?? 0;
    assert.ok(healthy > planned, 'the healthy pipeline moved to a slower, cheaper point');
    for (let p = 0; p < 2; p++) {
      for (let s = 0; s < 3; s++) {
        const t = ranks.find((r) => r.metadata.name === `gpt-p${p}-s${s}`)?.spec.plan?.modelIterationSeconds ?? 0;
        await h.reportRank(`gpt-p${p}-s${s}`, { appliedPlanGeneration: 2, recentIterationSeconds: [t, t, t] });
      }
    }
    const recovered = await waitFor('recovery', async () => {
      const job = await h.job('gpt');
      return job.status?.plan?.generation === 3 ? job : undefined;
    });
    assert.deepEqual(recovered.status?.stragglers, []);
    assert.ok(recovered.status?.conditions?.some((c) => c.type === 'StragglerDetected' && c.status === 'False'));
    await waitFor('base plan restored', async () => (await h.ranks()).every((r) => r.spec.plan?.generation === 3 && r.spec.plan.modelIterationSeconds === planned));
    const reasons = (await h.events()).map((e) => e.reason);
    assert.ok(reasons.includes('Replanned') && reasons.includes('StragglerRecovered'));
  });
});

describe('controller endpoints', function () {
  this.timeout(30_000);
  it('serves /metrics with the controller and planner metrics, /healthz and /readyz', async () => {
    const h = await Harness.start();
    try {
      const op = await h.startOperator('m', { httpPort: 0 });
      const { stageProfileToCsv } = await import('../../src/planner/index.ts');
      const { syntheticProfile } = await import('./fixtures.ts');
      await h.core.createNamespacedConfigMap({ namespace: 'ml', body: { metadata: { name: 'stored' }, data: { 'profile.csv': stageProfileToCsv(syntheticProfile(3)) } } });
      await h.createJob(jobManifest('gpt', { profiling: { profileRef: { configMapName: 'stored' } } }));
      await waitForPhase(h, 'gpt', 'Running', 30_000);
      const base = `http://127.0.0.1:${op.port ?? 0}`;
      const text = await (await fetch(`${base}/metrics`)).text();
      for (const name of [
        'perseus_controller_reconcile_total',
        'perseus_controller_reconcile_errors_total',
        'perseus_controller_reconcile_duration_seconds',
        'perseus_controller_jobs{phase="Running"} 1',
        'perseus_planner_solve_duration_seconds_count 1',
        'perseus_planner_frontier_points',
        'perseus_job_expected_savings_ratio{namespace="ml",name="gpt"}',
        'perseus_controller_replans_total',
        'perseus_planner_failures_total 0',
        'perseus_job_phase{namespace="ml",name="gpt",phase="Running"} 1',
        'perseus_job_phase{namespace="ml",name="gpt",phase="Profiling"} 0',
        'perseus_job_stragglers{namespace="ml",name="gpt"} 0',
      ]) {
        assert.ok(text.includes(name), `metrics include ${name}`);
      }
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    } finally {
      await h.stop();
    }
  });
});
