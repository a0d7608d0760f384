// A controller killed and restarted in every phase resumes without duplicates or re-profiling; with leader
// election, two replicas never both act.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { Harness, jobManifest, waitFor, waitForPhase } from './harness.ts';
import { describeOnServers } from '../support/servers.ts';

describeOnServers('controller restarts and leader election', function (kind) {
  this.timeout(90_000);
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.start('ml', kind);
  });
  afterEach(async () => {
    await h.stop();
  });

  it('resumes a job killed in every phase with no duplicate objects and no re-profiling', async () => {
    let op = await h.startOperator('first');
    const restart = async (label: string): Promise<void> => {
      await h.stopOperator(op);
      op = await h.startOperator(label);
    };
    await h.createJob(jobManifest());
    await waitForPhase(h, 'gpt', 'Profiling');
    await waitFor('profiling ranks', async () => (await h.ranks()).length === 3 && (await h.pods()).length === 3);
    await restart('in-profiling');
    await h.reportProfiles('gpt', 3);
    await waitFor('planning or later', async () => ['Planning', 'Running'].includes((await h.job('gpt')).status?.phase ?? ''));
    await restart('in-planning');
    await waitForPhase(h, 'gpt', 'Running');
    await waitFor('workers', async () => (await h.pods()).length === 6 && (await h.ranks()).every((r) => r.spec.mode === 'Run'));
    const profileBefore = (await h.core.readNamespacedConfigMap({ name: 'gpt-perseus', namespace: h.ns })).data?.['profile.csv'];
    const ranksBefore = JSON.stringify((await h.ranks()).map((r) => r.spec).sort((a, b) => a.podName.localeCompare(b.podName)));
    await restart('in-running');
    // Give the new controller time to resync and (wrongly) act if it would.
    await waitFor('resynced', async () => h.operators[0]?.controller?.synced === true);
    await new Promise((r) => setTimeout(r, 500));
    const pods = await h.pods();
    assert.equal(pods.length, 6);
    assert.equal(new Set(pods.map((p) => p.metadata?.name)).size, 6);
    assert.equal((await h.ranks()).length, 6);
    assert.equal((await h.core.readNamespacedConfigMap({ name: 'gpt-perseus', namespace: h.ns })).data?.['profile.csv'], profileBefore);
    assert.equal(JSON.stringify((await h.ranks()).map((r) => r.spec).sort((a, b) => a.podName.localeCompare(b.podName))), ranksBefore);
    // Created events name each pod a pass created ("Created 3 Pods: gpt-profile-…, …").
    const createdNames = (await h.events()).filter((e) => e.reason === 'Created' && /Pods?\b/.test(e.message ?? '')).flatMap((e) => (e.message ?? '').match(/gpt-profile[\w-]*/g) ?? []);
    assert.equal(createdNames.length, 3, `profiling pods were created once: ${createdNames.join(' ')}`);
    assert.equal(new Set(createdNames).size, 3);
    assert.equal((await h.job('gpt')).status?.plan?.generation, 1);
    for (const pod of pods) await h.setPodPhase(pod.metadata?.name ?? '', 'Succeeded');
    await waitForPhase(h, 'gpt', 'Succeeded');
    await restart('in-succeeded');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await h.job('gpt')).status?.phase, 'Succeeded');
    assert.equal((await h.pods()).length, 6);
  });

  it('with two replicas only the lease holder acts, and the other takes over', async () => {
    const le = { namespace: h.leaseNamespace, name: 'perseus-controller', leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };
    const a = await h.startOperator('replica-a', { leaderElection: le });
    const b = await h.startOperator('replica-b', { leaderElection: le });
    await waitFor('a leader', async () => a.isLeader || b.isLeader);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(a.isLeader && b.isLeader, false, 'never both');
    const leader = a.isLeader ? a : b;
    const standby = leader === a ? b : a;
    const leaderId = leader === a ? 'replica-a' : 'replica-b';
    await h.createJob(jobManifest());
    await waitForPhase(h, 'gpt', 'Profiling');
    await waitFor('ranks', async () => (await h.ranks()).length === 3);
    const lease = await h.kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'perseus-controller', namespace: h.leaseNamespace });
    assert.equal(lease.spec?.holderIdentity, leaderId);
    // Only the controller's own events (a real cluster's scheduler reports too).
    const ours = async (): Promise<Set<string | undefined>> => new Set((await h.events()).filter((e) => e.reportingComponent === 'perseus-controller').map((e) => e.reportingInstance));
    const actors = await ours();
    assert.deepEqual([...actors], [leaderId]);
    await h.stopOperator(leader);
    await waitFor('standby takes over', async () => standby.isLeader);
    await h.reportProfiles('gpt', 3);
    await waitForPhase(h, 'gpt', 'Running');
    const after = await ours();
    assert.equal(after.size, 2);
    assert.equal(standby.leaderTerms, 1);
  });
});
