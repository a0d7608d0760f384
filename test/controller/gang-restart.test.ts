// decide() on a gang restart: every trigger (failed, evicted, deleted, node lost past the grace) restarts
// all pods of the job once, under a new attempt with new tokens, profile and plan kept; backoffLimit counts
// restarts; suspend, activeDeadlineSeconds and late reports of the old pods keep their meaning meanwhile.
import assert from 'node:assert/strict';
import { sha256Hex } from '../../src/controller/objects.ts';
import { makeJob } from './fixtures.ts';
import { runToRunning, World } from './world.ts';

/** A job Running with its 6 worker pods scheduled (node-0, node-1) and the ranks recording their UIDs. */
function running(spec: Record<string, unknown> = {}): World {
  const world = new World(makeJob({ spec }));
  runToRunning(world);
  world.schedule();
  world.step();
  for (const rank of world.ranks.values()) assert.equal(rank.spec.podUid, world.pods.get(rank.metadata.name)?.uid, 'the rank records its scheduled pod');
  world.events = [];
  world.deletes = [];
  return world;
}

function workerUidsOf(world: World, role: 'worker' | 'profiler'): Map<string, string> {
  return new Map([...world.pods.values()].filter((p) => p.role === role).map((p) => [p.name, p.uid]));
}

function workerUids(world: World): Map<string, string> {
  return workerUidsOf(world, 'worker');
}

function condition(world: World, type: string) {
  return world.status.conditions?.find((c) => c.type === type);
}

/** Runs passes (the old pods going away in between) until every worker pod of the current attempt exists. */
function completeRestart(world: World): void {
  for (let i = 0; i < 6; i++) {
    world.step();
    world.finishDeletions();
  }
  world.schedule();
  world.step();
}

describe('decide: gang restart', () => {
  const triggers: { name: string; reason: string; lose(world: World): void; pattern: RegExp }[] = [
    { name: 'a failed pod', reason: 'PodFailed', lose: (w) => w.pods.set('gpt-p1-s2', { ...w.pods.get('gpt-p1-s2')!, phase: 'Failed', reason: 'Error' }), pattern: /pod gpt-p1-s2 failed \(Error\)/ },
    { name: 'an evicted pod', reason: 'PodEvicted', lose: (w) => w.pods.set('gpt-p1-s2', { ...w.pods.get('gpt-p1-s2')!, phase: 'Failed', reason: 'Evicted' }), pattern: /pod gpt-p1-s2 was evicted/ },
    { name: 'a pod deleted at once (kubectl delete --force)', reason: 'PodDeleted', lose: (w) => w.pods.delete('gpt-p1-s2'), pattern: /pod gpt-p1-s2 was deleted/ },
    { name: 'a pod being deleted by someone else', reason: 'PodDeleted', lose: (w) => w.pods.set('gpt-p1-s2', { ...w.pods.get('gpt-p1-s2')!, deleting: true }), pattern: /pod gpt-p1-s2 is being deleted/ },
  ];
  for (const t of triggers) {
    it(`restarts every worker pod once for ${t.name}: new attempt, new UIDs and tokens, profile and plan kept`, () => {
      const world = running();
      const before = workerUids(world);
      const profile = structuredClone(world.status.profile);
      const plan = structuredClone(world.status.plan);
      const configMap = structuredClone(world.configMap);
      t.lose(world);
      world.graceful = true;
      const commit = world.step();
      // The commit is the status write alone: nothing is deleted or created before restarts is stored.
      assert.equal(world.status.restarts, 1);
      assert.deepEqual([commit.creates.length, commit.podDeletes.length, commit.rankPatches.length], [0, 0, 0]);
      assert.equal(condition(world, 'Restarting')?.status, 'True');
      assert.equal(condition(world, 'Restarting')?.reason, t.reason);
      const event = world.events.find((e) => e.reason === 'GangRestart');
      assert.ok(event, 'a GangRestart event');
      assert.match(event.message, t.pattern);
      assert.match(event.message, new RegExp(`^${t.reason}:`));
      assert.equal(world.status.failedPods?.at(-1)?.name, 'gpt-p1-s2');

      // Tear-down: every old pod deleted, ranks Idle under attempt 1 without token (clocks reset, old pods shut out).
      const present = [...world.pods.values()].filter((p) => !p.deleting).map((p) => p.name).sort();
      world.step();
      assert.deepEqual(world.deletes.map((d) => d.name).sort(), present, 'every old pod not already going away is deleted');
      assert.ok(world.deletes.every((d) => d.reason === 'GangRestart' && d.force !== true));
      for (const rank of world.ranks.values()) {
        assert.equal(rank.spec.mode, 'Idle');
        assert.equal(rank.spec.attempt, 1);
        assert.equal(rank.spec.tokenSha256, undefined);
        assert.equal(rank.spec.podUid, undefined);
      }
      const waiting = world.step();
      assert.equal(waiting.creates.length, 0, 'nothing is recreated while old pods remain');

      completeRestart(world);
      assert.equal(world.status.restarts, 1, 'counted once');
      assert.equal(condition(world, 'Restarting')?.status, 'False');
      assert.ok(world.events.some((e) => e.reason === 'GangRestarted'));
      const after = workerUids(world);
      assert.equal(after.size, 6);
      for (const [name, uid] of after) {
        assert.notEqual(uid, before.get(name), `${name} is a new pod`);
        const pod = world.pods.get(name)!;
        assert.equal(pod.attempt, 1);
        const rank = world.ranks.get(name)!;
        assert.equal(rank.spec.mode, 'Run');
        assert.equal(rank.spec.attempt, 1);
        assert.equal(rank.spec.tokenSha256, sha256Hex(pod.token ?? ''), 'a new token for the new pod');
        assert.equal(rank.spec.podUid, uid);
      }
      assert.deepEqual(world.status.profile, profile, 'no re-profiling');
      assert.deepEqual(world.status.plan, plan, 'the plan is kept');
      assert.deepEqual(world.configMap, configMap);
      assert.equal(world.status.phase, 'Running');
      assert.ok(![...world.pods.values()].some((p) => p.role === 'profiler'), 'no profiling pod');
      assert.equal(world.events.filter((e) => e.reason === 'GangRestart').length, 1);
    });
  }

  it('a node NotReady restarts the job only past the grace, and its stuck pods are deleted with grace 0', () => {
    const world = running();
    world.nodeLostGraceMs = 60_000;
    world.graceful = true;
    const since = world.nowMs;
    world.nodes.set('node-1', { ready: false, sinceMs: since });
    world.nowMs += 59_000;
    const within = world.step();
    assert.equal(world.status.restarts ?? 0, 0, 'not before the grace');
    assert.equal(within.requeueAfterMs, 1_000, 'looks again when the grace ends');
    world.nowMs += 1_000;
    world.step();
    assert.equal(world.status.restarts, 1);
    assert.equal(condition(world, 'Restarting')?.reason, 'NodeLost');
    assert.match(world.events.find((e) => e.reason === 'GangRestart')?.message ?? '', /node node-1 of pod gpt-p1-s0 has been NotReady for 60 s \(and 2 more\)/);
    world.step();
    const forced = world.deletes.filter((d) => d.force === true).map((d) => d.name).sort();
    assert.deepEqual(forced, ['gpt-p1-s0', 'gpt-p1-s1', 'gpt-p1-s2'], 'pods on the lost node cannot be deleted gracefully');
    assert.equal(world.deletes.filter((d) => d.force !== true).length, 3, 'the others gracefully');
    world.nodes.set('node-1', { ready: true, sinceMs: world.nowMs }); // replaced; the new pods land on Ready nodes
    completeRestart(world);
    assert.equal(world.status.restarts, 1, 'three pods lost, one restart');
  });

  it('counts restarts against backoffLimit and fails past it with BackoffLimitExceeded', () => {
    const world = running({ runPolicy: { backoffLimit: 1 } });
    world.pods.set('gpt-p0-s0', { ...world.pods.get('gpt-p0-s0')!, phase: 'Failed', reason: 'Error' });
    world.step();
    completeRestart(world);
    assert.equal(world.status.restarts, 1);
    assert.equal(world.status.phase, 'Running');
    world.pods.delete('gpt-p1-s1');
    world.step();
    assert.equal(world.status.phase, 'Failed');
    const failed = condition(world, 'Failed');
    assert.equal(failed?.reason, 'BackoffLimitExceeded');
    assert.match(failed?.message ?? '', /PodDeleted: pod gpt-p1-s1 was deleted; the job was restarted 1 times and backoffLimit is 1/);
    assert.equal(world.status.restarts, 1);
    assert.ok([...world.ranks.values()].every((r) => r.spec.mode === 'Idle'));
  });

  it('with backoffLimit 0 the first loss fails the job', () => {
    const world = running({ runPolicy: { backoffLimit: 0 } });
    world.pods.set('gpt-p0-s1', { ...world.pods.get('gpt-p0-s1')!, phase: 'Failed', reason: 'Evicted' });
    world.step();
    assert.equal(world.status.phase, 'Failed');
    assert.equal(condition(world, 'Failed')?.reason, 'BackoffLimitExceeded');
  });

  it('a scheduled pod deleted before its rank recorded its UID restarts the gang; it is not recreated alone', () => {
    const world = new World(makeJob());
    runToRunning(world);
    world.schedule(); // the pods are bound; no pass has recorded their UIDs in the ranks yet
    assert.ok([...world.ranks.values()].every((r) => r.spec.podUid === undefined));
    const { object: _object, ...lost } = world.pods.get('gpt-p1-s2')!;
    world.pods.delete('gpt-p1-s2');
    world.vanished.set('gpt-p1-s2', lost);
    const commit = world.step();
    assert.equal(world.status.restarts, 1, 'a gang restart, not a lone replacement');
    assert.equal(commit.creates.length, 0);
    assert.deepEqual(world.status.failedPods?.map((f) => [f.name, f.uid, f.reason]), [['gpt-p1-s2', lost.uid, 'PodDeleted']]);
    assert.match(world.events.find((e) => e.reason === 'GangRestart')?.message ?? '', /^PodDeleted: pod gpt-p1-s2 was deleted/);
  });

  it('a vanished pod of an older attempt, or one the cache still holds with the same UID, is no loss', () => {
    const world = running();
    const { object: _first, ...first } = world.pods.get('gpt-p0-s1')!;
    world.graceful = true;
    world.pods.delete('gpt-p1-s2');
    world.step();
    completeRestart(world);
    assert.equal(world.status.restarts, 1);
    world.events = [];
    world.vanished.set('gpt-p0-s1', first); // attempt 0: the restart already replaced it
    const { object: _held, ...held } = world.pods.get('gpt-p1-s1')!;
    world.vanished.set('gpt-p1-s1', held); // attempt 1, but the cache holds this very pod again
    world.step();
    assert.equal(world.status.restarts, 1);
    assert.deepEqual(world.events.filter((e) => e.reason === 'GangRestart'), []);
  });

  it('suspend during a restart deletes what is left and resumes under the new attempt', () => {
    const world = running();
    world.graceful = true;
    world.pods.delete('gpt-p0-s2');
    world.step();
    world.step(); // tear-down started; old pods terminating
    world.job = { ...world.job, spec: { ...world.job.spec, runPolicy: { suspend: true } } };
    world.step();
    assert.equal(world.status.phase, 'Suspended');
    world.finishDeletions();
    assert.equal(world.pods.size, 0);
    world.job = { ...world.job, spec: { ...world.job.spec, runPolicy: { suspend: false } } };
    world.step();
    assert.equal(world.status.phase, 'Running');
    assert.equal(world.pods.size, 6);
    assert.ok([...world.pods.values()].every((p) => p.attempt === 1));
    assert.equal(world.status.restarts, 1);
    assert.equal(condition(world, 'Restarting')?.status, 'False');
    world.schedule();
    world.step();
    assert.equal(world.status.restarts, 1, 'the pods suspend deleted are no loss');
  });

  it('activeDeadlineSeconds still fails a job whose restart waits for its old pods', () => {
    const world = running({ runPolicy: { activeDeadlineSeconds: 600 } });
    world.graceful = true;
    world.pods.set('gpt-p1-s0', { ...world.pods.get('gpt-p1-s0')!, phase: 'Failed', reason: 'Error' });
    world.step();
    world.step();
    world.nowMs += 601_000;
    world.step();
    assert.equal(world.status.phase, 'Failed');
    assert.equal(condition(world, 'Failed')?.reason, 'DeadlineExceeded');
  });

  it('ignores late iteration reports of the old attempt for stragglers', () => {
    const world = running();
    world.pods.set('gpt-p1-s2', { ...world.pods.get('gpt-p1-s2')!, phase: 'Failed', reason: 'Error' });
    world.step();
    completeRestart(world);
    const planned = world.status.plan?.plannedIterationSeconds ?? 0;
    world.reportIterations(1, planned * 1.5, 0); // the old pods' reports, written late
    world.step();
    assert.equal(world.status.stragglers?.length ?? 0, 0, 'old-attempt reports do not count');
    world.reportIterations(1, planned * 1.5, 1);
    world.step();
    assert.deepEqual(world.status.stragglers?.map((s) => s.pipeline), [1], 'reports of the new attempt do');
  });

  it('restarts the profiling pods while Profiling, and the sweep starts over in Profile mode', () => {
    const world = new World(makeJob());
    world.untilPhase('Profiling');
    world.schedule();
    world.step();
    const before = workerUidsOf(world, 'profiler');
    world.pods.set('gpt-profile-s1', { ...world.pods.get('gpt-profile-s1')!, phase: 'Failed', reason: 'OOMKilled' });
    world.step();
    assert.equal(world.status.restarts, 1);
    assert.match(world.events.find((e) => e.reason === 'GangRestart')?.message ?? '', /^PodFailed: pod gpt-profile-s1 failed \(OOMKilled\)/);
    completeRestart(world);
    assert.equal(world.status.phase, 'Profiling');
    const after = workerUidsOf(world, 'profiler');
    assert.equal(after.size, 3);
    for (const [name, uid] of after) assert.notEqual(uid, before.get(name), `${name} is a new pod`);
    for (const rank of world.ranks.values()) {
      assert.equal(rank.spec.mode, 'Profile');
      assert.equal(rank.spec.attempt, 1);
    }
  });

  it('a pod deleted before it was scheduled is recreated alone (it never joined the group)', () => {
    const world = new World(makeJob());
    runToRunning(world);
    const uid = world.pods.get('gpt-p0-s0')?.uid;
    world.pods.delete('gpt-p0-s0');
    world.step();
    assert.equal(world.status.restarts ?? 0, 0);
    assert.notEqual(world.pods.get('gpt-p0-s0')?.uid, uid, 'recreated');
  });

  it('waits while the job cache lags behind its own restart (children of a newer attempt)', () => {
    const world = running();
    world.pods.delete('gpt-p0-s0');
    const stale = structuredClone(world.job);
    world.step();
    world.step(); // ranks now carry attempt 1
    world.job = stale; // the cache still shows restarts 0
    const d = world.step();
    assert.deepEqual([d.creates.length, d.podDeletes.length, d.rankPatches.length], [0, 0, 0]);
    assert.equal(d.status.restarts ?? 0, 0, 'no second restart from a stale view');
  });
});
