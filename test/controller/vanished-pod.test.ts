// A worker pod scheduled and deleted before the controller could record its UID in its rank (here: every
// rank write fails meanwhile) is a lost member of the gang all the same: the controller saw it go, and
// restarts every pod once instead of recreating that one alone (which would hang in its rendezvous).
import assert from 'node:assert/strict';
import { Harness, jobManifest, waitFor, waitForPhase } from './harness.ts';

describe('controller: a pod deleted before its rank recorded it [embedded]', function () {
  this.timeout(60_000);
  let h: Harness;

  before(async () => {
    h = await Harness.start('vanish');
    await h.startOperator('c-vanish');
  });
  after(async () => h?.stop());

  it('restarts the gang once, naming the pod', async () => {
    await h.createJob(jobManifest('gpt'));
    await waitForPhase(h, 'gpt', 'Profiling');
    await h.reportProfiles('gpt', 3);
    await waitForPhase(h, 'gpt', 'Running', 30_000);
    await waitFor('6 worker pods', async () => (await h.pods()).filter((p) => p.metadata?.labels?.['perseus.energy/role'] === 'worker').length === 6);
    const victim = 'gpt-p1-s2';
    const before = (await h.pods()).find((p) => p.metadata?.name === victim)!;
    // No rank write gets through: the rank cannot record the pod's UID once it is scheduled.
    h.server.embedded!.faults.failAlways({ verb: 'patch', resource: 'perseusranks' }, 503);
    await h.core.createNamespacedPodBinding({ namespace: h.ns, name: victim, body: { metadata: { name: victim }, target: { kind: 'Node', name: 'node-a' } } });
    await new Promise((r) => setTimeout(r, 300));
    await h.core.deleteNamespacedPod({ namespace: h.ns, name: victim, gracePeriodSeconds: 0 });
    await new Promise((r) => setTimeout(r, 300));
    h.server.embedded!.faults.clear();
    assert.equal((await h.ranks()).find((r) => r.metadata.name === victim)?.spec.podUid, undefined, 'the rank never recorded the pod');

    const job = await waitFor('a gang restart', async () => {
      const j = await h.job('gpt');
      return (j.status?.restarts ?? 0) >= 1 ? j : undefined;
    }, 30_000);
    assert.equal(job.status?.restarts, 1);
    assert.deepEqual(job.status?.failedPods?.map((f) => [f.name, f.uid, f.reason]), [[victim, before.metadata?.uid, 'PodDeleted']]);
    const events = (await h.events()).filter((e) => e.reason === 'GangRestart');
    assert.equal(events.length, 1);
    assert.match(events[0]!.message ?? '', new RegExp(`^PodDeleted: pod ${victim} was deleted`));
    // Every worker pod comes back under attempt 1, none alone under attempt 0.
    const workers = await waitFor('6 worker pods of attempt 1', async () => {
      const pods = (await h.pods()).filter((p) => p.metadata?.labels?.['perseus.energy/role'] === 'worker');
      return pods.length === 6 && pods.every((p) => p.metadata?.labels?.['perseus.energy/restart-attempt'] === '1') ? pods : undefined;
    }, 30_000);
    assert.equal(workers.length, 6);
  });
});
