// decide() through a job's whole life on an in-memory world: each step applies the decision the way the
// controller would, and the tests assert on the resulting objects and status.
import assert from 'node:assert/strict';
import { stageProfileToCsv } from '../../src/planner/index.ts';
import { sha256Hex } from '../../src/controller/objects.ts';
import { makeJob, syntheticProfile } from './fixtures.ts';
import { runToRunning, World } from './world.ts';

describe('decide', () => {
  it('accepts a new job as Pending, then profiles pipeline 0 with tokens bound to the ranks', () => {
    const world = new World(makeJob());
    world.step();
    assert.equal(world.status.phase, 'Pending');
    world.step();
    assert.equal(world.status.phase, 'Profiling');
    assert.equal(world.service, true);
    assert.deepEqual([...world.pods.keys()].sort(), ['gpt-profile-s0', 'gpt-profile-s1', 'gpt-profile-s2']);
    assert.deepEqual([...world.ranks.keys()].sort(), ['gpt-p0-s0', 'gpt-p0-s1', 'gpt-p0-s2']);
    const rank = world.ranks.get('gpt-p0-s1');
    const pod = world.pods.get('gpt-profile-s1');
    assert.equal(rank?.spec.mode, 'Profile');
    assert.equal(rank?.spec.podName, 'gpt-profile-s1');
    assert.equal(rank?.spec.profile?.clockStrideMhz, 120);
    assert.equal(rank?.spec.profile?.round, 1);
    assert.equal(rank?.spec.tokenSha256, sha256Hex(pod?.token ?? 'x'));
    const container = ((pod?.object['spec'] as { containers: { env: { name: string; value: string }[]; resources: { limits: Record<string, number> } }[] }).containers)[0];
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env['PERSEUS_RANK'], 'gpt-p0-s1');
    assert.equal(env['PERSEUS_AGENT_SOCKET'], '/var/run/perseus/agent.sock');
    assert.equal(env['WORLD_SIZE'], '3');
    assert.equal(env['MASTER_ADDR'], 'gpt-profile-s0.gpt');
    assert.equal(container?.resources.limits['nvidia.com/gpu'], 1);
    // Level-triggered: another pass creates nothing new.
    const again = world.step();
    assert.deepEqual(again.creates, []);
    assert.deepEqual(again.rankPatches, []);
  });

  it('stores the profile, plans, and runs every pipeline with the plan', () => {
    const world = new World(makeJob());
    world.untilPhase('Profiling');
    world.step();
    assert.equal(world.status.phase, 'Profiling', 'waits for every rank');
    world.reportProfiles();
    world.step();
    assert.equal(world.status.phase, 'Planning');
    assert.ok(world.configMap?.['profile.csv']?.startsWith('stage,instruction'));
    assert.equal(world.pods.size, 0, 'profiling pods deleted');
    world.untilPhase('Running');
    const plan = world.status.plan;
    assert.equal(plan?.generation, 1);
    assert.ok((plan?.expectedSavingsRatio ?? 0) > 0.01, `savings ${plan?.expectedSavingsRatio}`);
    assert.ok((plan?.plannedIterationSeconds ?? Infinity) <= (plan?.baselineIterationSeconds ?? 0) * (1 + 1e-9));
    assert.match(plan?.savings ?? '', /^\d+\.\d%$/);
    assert.ok(world.configMap?.['frontier.csv']?.startsWith('time,energy'));
    world.step();
    assert.equal(world.pods.size, 6);
    assert.equal(world.ranks.size, 6);
    for (const rank of world.ranks.values()) {
      assert.equal(rank.spec.mode, 'Run');
      assert.equal(rank.spec.plan?.generation, 1);
      assert.equal(rank.spec.podName, rank.metadata.name);
      assert.equal(rank.spec.profile, undefined);
      assert.equal(rank.spec.plan?.computations?.length, 8);
    }
    const reasons = world.events.map((e) => e.reason);
    assert.ok(reasons.includes('ProfilingStarted') && reasons.includes('ProfileCollected') && reasons.includes('Planned'));
  });

  it('succeeds when every worker succeeds and releases the clocks; TTL deletes the job', () => {
    const world = new World(makeJob({ spec: { runPolicy: { ttlSecondsAfterFinished: 60 } } }));
    runToRunning(world);
    for (const pod of world.pods.values()) world.pods.set(pod.name, { ...pod, phase: 'Succeeded' });
    world.step();
    assert.equal(world.status.phase, 'Succeeded');
    assert.ok([...world.ranks.values()].every((r) => r.spec.mode === 'Idle'));
    world.nowMs += 30_000;
    world.step();
    assert.equal(world.deleted, false);
    world.nowMs += 31_000;
    world.step();
    assert.equal(world.deleted, true);
  });

  it('replans on a straggler by lookup and restores the plan when it recovers', () => {
    const world = new World(makeJob());
    runToRunning(world);
    const planned = world.status.plan?.plannedIterationSeconds ?? 0;
    world.reportIterations(0, planned);
    world.reportIterations(1, planned * 1.4);
    world.step();
    assert.equal(world.status.plan?.generation, 2);
    assert.deepEqual(world.status.stragglers?.map((s) => s.pipeline), [1]);
    assert.ok((world.status.stragglers?.[0]?.slowdown ?? 0) > 1.3);
    assert.equal(world.status.replans, 1);
    assert.ok(world.status.conditions?.some((c) => c.type === 'StragglerDetected' && c.status === 'True'));
    const p0 = world.ranks.get('gpt-p0-s0')?.spec.plan;
    const p1 = world.ranks.get('gpt-p1-s0')?.spec.plan;
    assert.equal(p0?.generation, 2);
    assert.equal(p1?.generation, 2);
    assert.ok((p0?.modelIterationSeconds ?? 0) > planned, 'the healthy pipeline slows down to the straggler');
    assert.ok((p1?.modelIterationSeconds ?? Infinity) <= planned, 'the straggler runs the fastest plan');
    // The straggler recovers (reports under generation 2 at its plan's time).
    world.reportIterations(0, p0?.modelIterationSeconds ?? 0);
    world.reportIterations(1, p1?.modelIterationSeconds ?? 0);
    world.step();
    assert.equal(world.status.plan?.generation, 3);
    assert.deepEqual(world.status.stragglers, []);
    assert.equal(world.ranks.get('gpt-p0-s0')?.spec.plan?.modelIterationSeconds, planned);
    assert.ok(world.events.some((e) => e.reason === 'StragglerRecovered'));
  });

  it('moves the other pipelines again when a straggler gets slower', () => {
    const world = new World(makeJob());
    runToRunning(world);
    const planned = world.status.plan?.plannedIterationSeconds ?? 0;
    world.reportIterations(0, planned);
    world.reportIterations(1, planned * 1.2);
    world.step();
    assert.equal(world.status.plan?.generation, 2);
    const firstTarget = world.status.plan?.targetIterationSeconds ?? 0;
    const p0 = world.ranks.get('gpt-p0-s0')?.spec.plan;
    const p1 = world.ranks.get('gpt-p1-s0')?.spec.plan;
    // The straggler worsens to 1.5× its (fastest) plan while the others run theirs.
    world.nowMs += 120_000;
    world.reportIterations(0, p0?.modelIterationSeconds ?? 0);
    world.reportIterations(1, (p1?.modelIterationSeconds ?? 0) * 1.5);
    world.step();
    assert.equal(world.status.plan?.generation, 3);
    assert.deepEqual(world.status.stragglers?.map((s) => s.pipeline), [1]);
    assert.ok((world.status.plan?.targetIterationSeconds ?? 0) > firstTarget * 1.1, `target ${world.status.plan?.targetIterationSeconds} vs ${firstTarget}`);
    assert.ok((world.ranks.get('gpt-p0-s0')?.spec.plan?.modelIterationSeconds ?? 0) > (p0?.modelIterationSeconds ?? Infinity), 'the healthy pipeline slows down further');
    // A pace change within the threshold is no replan.
    world.nowMs += 120_000;
    const p0Now = world.ranks.get('gpt-p0-s0')?.spec.plan;
    world.reportIterations(0, p0Now?.modelIterationSeconds ?? 0);
    world.reportIterations(1, (world.status.stragglers?.[0]?.iterationSeconds ?? 0) * 1.02);
    world.step();
    assert.equal(world.status.plan?.generation, 3);
  });

  it('does not re-plan while a straggler is recovering (a window that mixes two paces), only once it has recovered', () => {
    const world = new World(makeJob());
    runToRunning(world);
    const planned = world.status.plan?.plannedIterationSeconds ?? 0;
    world.reportIterations(0, planned);
    world.reportIterations(1, planned * 1.3);
    world.step();
    assert.equal(world.status.plan?.generation, 2);
    const p0 = world.ranks.get('gpt-p0-s0')?.spec.plan?.modelIterationSeconds ?? 0;
    const slow = world.status.stragglers?.[0]?.iterationSeconds ?? 0;
    const fast = world.ranks.get('gpt-p1-s0')?.spec.plan?.modelIterationSeconds ?? 0;
    // Half the window back at full speed: the mean moved by more than the threshold, but it is no pace.
    world.nowMs += 60_000;
    world.reportIterations(0, p0);
    world.reportIterations(1, [slow, slow, fast, fast]);
    world.step();
    assert.equal(world.status.plan?.generation, 2, 'no replan for a mixed window');
    assert.deepEqual(world.status.stragglers?.map((s) => s.pipeline), [1]);
    assert.equal(world.status.stragglers?.[0]?.iterationSeconds, slow);
    // The whole window at full speed: recovered, one replan back to the base plan.
    world.nowMs += 60_000;
    world.reportIterations(1, [fast, fast, fast, fast]);
    world.step();
    assert.equal(world.status.plan?.generation, 3);
    assert.deepEqual(world.status.stragglers, []);
    assert.equal(world.ranks.get('gpt-p0-s0')?.spec.plan?.modelIterationSeconds, planned);
  });

  it('ignores iteration reports of an older plan generation', () => {
    const world = new World(makeJob());
    runToRunning(world);
    const planned = world.status.plan?.plannedIterationSeconds ?? 0;
    for (let s = 0; s < 3; s++) world.setRankStatus(`gpt-p1-s${s}`, { appliedPlanGeneration: 0, recentIterationSeconds: [planned * 2, planned * 2, planned * 2] });
    world.step();
    assert.equal(world.status.plan?.generation, 1);
  });

  it('fails an invalid spec with a terminal InvalidSpec condition naming the field', () => {
    const world = new World(makeJob({ spec: { topology: { stages: 0, microbatches: 4 } } }));
    world.step();
    assert.equal(world.status.phase, 'Failed');
    const c = world.status.conditions?.find((x) => x.type === 'InvalidSpec');
    assert.equal(c?.status, 'True');
    assert.match(c?.message ?? '', /spec\.topology\.stages/);
    assert.ok(world.events.some((e) => e.reason === 'InvalidSpec' && e.message.includes('spec.topology.stages')));
    world.step();
    assert.equal(world.status.phase, 'Failed');
    assert.equal(world.last?.creates.length, 0);
  });

  it('suspends (pods deleted, ranks idle) and resumes where it was', () => {
    const world = new World(makeJob());
    runToRunning(world);
    world.job = { ...world.job, spec: { ...world.job.spec, runPolicy: { suspend: true } } };
    world.step();
    assert.equal(world.status.phase, 'Suspended');
    assert.equal(world.pods.size, 0);
    assert.ok([...world.ranks.values()].every((r) => r.spec.mode === 'Idle'));
    world.job = { ...world.job, spec: { ...world.job.spec, runPolicy: { suspend: false } } };
    world.step();
    assert.equal(world.status.phase, 'Running');
    assert.equal(world.pods.size, 6);
    assert.equal(world.status.plan?.generation, 1, 'no re-planning');
  });

  it('skips profiling with profileRef and copies the profile into the job', () => {
    const world = new World(makeJob({ spec: { profiling: { profileRef: { configMapName: 'old-perseus' } } } }));
    world.step();
    world.step();
    assert.equal(world.status.phase, 'Planning');
    assert.equal(world.status.conditions?.find((c) => c.type === 'Profiled')?.reason, 'ProfileRefNotFound');
    world.profileRef = { 'profile.csv': stageProfileToCsv(syntheticProfile(3)) };
    world.untilPhase('Running');
    assert.equal(world.status.profile?.source, 'ProfileRef');
    assert.ok(world.configMap?.['profile.csv']);
    assert.equal([...world.pods.values()].filter((p) => p.role === 'profiler').length, 0);
  });

  it('rejects a referenced profile with the wrong number of stages, naming profileRef', () => {
    const world = new World(makeJob({ spec: { profiling: { profileRef: { configMapName: 'old-perseus' } } } }));
    world.profileRef = { 'profile.csv': stageProfileToCsv(syntheticProfile(2)) };
    world.untilPhase('Failed');
    assert.match(world.status.conditions?.find((c) => c.type === 'InvalidSpec')?.message ?? '', /spec\.profiling\.profileRef/);
  });

  it('fails when activeDeadlineSeconds passes and when profiling times out', () => {
    const a = new World(makeJob({ spec: { runPolicy: { activeDeadlineSeconds: 100 } } }));
    a.untilPhase('Profiling');
    a.nowMs += 101_000;
    a.step();
    assert.equal(a.status.phase, 'Failed');
    assert.equal(a.status.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
    const b = new World(makeJob({ spec: { profiling: { timeoutSeconds: 60 } } }));
    b.untilPhase('Profiling');
    b.nowMs += 61_000;
    b.step();
    assert.equal(b.status.conditions?.find((c) => c.type === 'Failed')?.reason, 'ProfilingTimeout');
  });

  it('records a profile stored by a pass whose status write failed, as collected, and moves to Planning', () => {
    const world = new World(makeJob());
    world.untilPhase('Profiling');
    world.reportProfiles();
    const unwritten = structuredClone(world.job);
    world.step(); // stores the profile and deletes the profiling pods; its status write then conflicts:
    world.job = unwritten;
    world.events = [];
    world.step();
    assert.equal(world.status.phase, 'Planning');
    assert.equal(world.status.profile?.source, 'Profiled');
    assert.ok((world.status.profile?.measurements ?? 0) > 0);
    assert.equal(world.status.conditions?.find((c) => c.type === 'Profiled')?.reason, 'ProfileCollected');
    assert.deepEqual(world.events.map((e) => e.reason).filter((r) => r !== 'PlanningStarted'), ['ProfileCollected']);
    assert.ok(!world.events.some((e) => e.reason === 'PlanningStarted'), 'one phase event, as without the conflict');
  });

  it('resumes in Running from stored state without re-profiling (a fresh frontier is re-derived)', () => {
    const world = new World(makeJob());
    runToRunning(world);
    const before = JSON.stringify([...world.ranks.values()].map((r) => r.spec));
    world.frontiers.clear(); // a restarted controller has no frontier in memory
    const d = world.step();
    assert.equal(world.status.phase, 'Running');
    assert.ok(d.solve !== undefined, 'asks for the frontier again');
    assert.equal(d.creates.length, 0);
    world.step();
    assert.equal(JSON.stringify([...world.ranks.values()].map((r) => r.spec)), before, 'same plans');
  });
});

describe('decide: profiling rounds', () => {
  // The fixture's formula on a 30 MHz grid (the first round measures a spread of it).
  const truth = ((): ReturnType<typeof syntheticProfile> => {
    const measurements = [];
    for (let stage = 0; stage < 3; stage++) {
      for (const instruction of ['forward', 'backward'] as const) {
        const base = (instruction === 'forward' ? 0.01 : 0.02) * (1 + 0.15 * stage);
        for (let f = 1410; f >= 870; f -= 30) {
          const timeSeconds = base * (1410 / f) ** 0.8;
          measurements.push({ stage, instruction, frequencyMhz: f, timeSeconds, energyJoules: (90 + 210 * (f / 1410) ** 2.2) * timeSeconds });
        }
      }
    }
    return { stageCount: 3, measurements, blockingPowerWatts: 70 };
  })();
  const key = (m: { stage: number; instruction: string; frequencyMhz: number }): string => `${m.stage}/${m.instruction}/${m.frequencyMhz}`;
  const done = (message: string) => [{ type: 'Profiled', status: 'True' as const, reason: 'SweepComplete', message, lastTransitionTime: '2025-03-01T00:00:00Z' }];

  it('measures what a plan sketched on the fitted model uses, and plans on measured clocks only', () => {
    const world = new World(makeJob({ spec: { profiling: { refinement: { maxRounds: 3, neighbours: 1 } } } }));
    world.untilPhase('Profiling');
    const clocks = [...new Set(truth.measurements.map((m) => m.frequencyMhz))].sort((a, b) => b - a);
    const firstRound = new Set([clocks[0]!, clocks[1]!, clocks[clocks.length - 1]!, ...clocks.filter((_, i) => i % 4 === 0)]);
    assert.ok(firstRound.size < clocks.length, 'the first round leaves clocks unmeasured');
    for (let s = 0; s < 3; s++) {
      assert.equal(world.ranks.get(`gpt-p0-s${s}`)?.spec.profile?.round, 1);
      world.setRankStatus(`gpt-p0-s${s}`, {
        stageProfile: truth.measurements.filter((m) => m.stage === s && firstRound.has(m.frequencyMhz)),
        blockingPowerWatts: 70,
        profileRound: 1,
        profilingSeconds: 10,
        profilingEnergyJoules: 2000,
        conditions: done('round 1'),
      });
    }
    const measured = new Set(truth.measurements.filter((m) => firstRound.has(m.frequencyMhz)).map(key));
    let rounds = 1;
    let reports = 0;
    for (let pass = 0; pass < 40 && world.status.phase === 'Profiling'; pass++) {
      world.step();
      for (let s = 0; s < 3; s++) {
        const spec = world.ranks.get(`gpt-p0-s${s}`)?.spec.profile;
        const status = world.ranks.get(`gpt-p0-s${s}`)?.status;
        if (spec?.targets === undefined || status?.profileRound === spec.round) continue;
        rounds = Math.max(rounds, spec.round ?? 0);
        const rows = (['forward', 'backward'] as const).flatMap((i) => (spec.targets?.[i] ?? []).map((f) => truth.measurements.find((m) => key(m) === key({ stage: s, instruction: i, frequencyMhz: f }))!));
        for (const r of rows) {
          assert.ok(!measured.has(key(r)), `round ${spec.round} asks again for ${key(r)}`);
          measured.add(key(r));
        }
        reports++;
        world.setRankStatus(`gpt-p0-s${s}`, { stageProfile: rows, profileRound: spec.round!, profilingSeconds: 2, profilingEnergyJoules: 400, conditions: done(`round ${spec.round}`) });
      }
    }
    assert.ok(rounds >= 2, 'at least one refinement round ran');
    assert.equal(world.status.phase, 'Planning');
    assert.equal(world.status.profile?.rounds, rounds);
    assert.equal(world.status.profile?.gpuSeconds, 3 * 10 + 2 * reports, 'GPU-seconds of every round on every rank that measured');
    assert.equal(world.status.profile?.energyJoules, 3 * 2000 + 400 * reports);
    const csv = world.configMap?.['profile.csv'] ?? '';
    const stored = csv.trim().split('\n').slice(1).map((l) => l.split(','));
    assert.equal(stored.length, measured.size, 'profile.csv holds exactly the measured rows');
    for (const [stage, instruction, f] of stored) assert.ok(measured.has(`${stage}/${instruction}/${f}`));
    assert.match(world.configMap?.['profile-model.csv'] ?? '', /,fitted\n/);
    world.untilPhase('Running');
    world.step();
    let checked = 0;
    for (const rank of world.ranks.values()) {
      for (const c of rank.spec.plan?.computations ?? []) {
        assert.ok(measured.has(key({ stage: rank.spec.stage, instruction: c.instruction, frequencyMhz: c.frequencyMhz })), `${rank.metadata.name} ${c.instruction} at ${c.frequencyMhz} MHz was measured`);
        checked++;
      }
    }
    assert.ok(checked > 0);
    assert.ok((world.status.profile?.paybackIterations ?? 0) > 0);
  });
});
