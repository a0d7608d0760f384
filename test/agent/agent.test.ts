import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Instruction, PlannedComputation, StageProfile } from '../../src/api/planner-types.ts';
import { sweepClocksMhz } from '../../src/agent/profiler.ts';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { fakeNvmlUnavailable } from '../nvml/fake-nvml.ts';
import { createHarness, flush, profileCost, rankSpec, sha256, type Harness } from './harness.ts';

const profile = unwrap(parseStageProfileCsv(readFileSync(new URL('../fixtures/fake-nvml/profile.csv', import.meta.url), 'utf8')));
const GPU1 = 'GPU-fake-0001';
const GPU2 = 'GPU-fake-0002';

function lockedCalls(h: Harness, gpu: number): string[] {
  return h.fake.calls().filter((l) => l.startsWith(`nvmlDeviceSetGpuLockedClocks ${gpu} `) || l.startsWith(`nvmlDeviceResetGpuLockedClocks ${gpu} `));
}

/** 1F1B order of one stage with `m` micro-batches and `warmup` forwards before the first backward. */
function oneF1B(m: number, warmup: number): [Instruction, number][] {
  const out: [Instruction, number][] = [];
  let f = 0;
  let b = 0;
  for (; f < Math.min(warmup, m); f++) out.push(['forward', f]);
  while (b < m) {
    if (f < m) out.push(['forward', f++]);
    out.push(['backward', b++]);
  }
  return out;
}

/** Runs `iterations` iterations of a stage on GPU index `gpu`, pricing each computation from `prof` at the fake's locked clock. */
function train(h: Harness, send: (line: object) => void, prof: StageProfile, stage: number, gpu: number, iterations: number, blockingWatts = 60, gapSeconds = 0.004): void {
  const order = oneF1B(3, 1);
  for (let it = 0; it < iterations; it++) {
    let total = 0;
    for (const [instruction, microbatch] of order) {
      send({ type: 'begin', instruction, microbatch });
      const clock = h.fake.lockedClockMhz(gpu) || 1410;
      const { t, e } = profileCost(prof, stage, instruction, clock);
      h.fake.setPowerMilliwatts(gpu, (e / t) * 1000);
      h.advance(t);
      send({ type: 'end' });
      h.fake.setPowerMilliwatts(gpu, blockingWatts * 1000);
      h.advance(gapSeconds);
      total += t + gapSeconds;
    }
    send({ type: 'step_end', iterationSeconds: total });
  }
}

describe('node agent core (fake NVML)', function () {
  let h: Harness;
  before(function () {
    const why = fakeNvmlUnavailable();
    if (why !== undefined) {
      console.warn(`Skipping agent tests: ${why}`);
      this.skip();
    }
  });
  afterEach(() => h?.close());

  async function bound(hh: Harness, hello: object): Promise<ReturnType<Harness['connect']> & { send: (m: object) => void }> {
    const c = hh.connect();
    const send = (m: object): void => c.session.handleLine(JSON.stringify(m));
    send({ type: 'hello', v: 1, namespace: 'team', rank: 'job-p0-s1', pod: 'job-worker-1', token: 'secret-1', ...hello });
    await flush();
    return { ...c, send };
  }

  it('resets every GPU at startup (locked clocks outlive a crashed agent)', () => {
    h = createHarness();
    h.agent.start();
    for (let g = 0; g < 4; g++) assert.deepEqual(lockedCalls(h, g), [`nvmlDeviceResetGpuLockedClocks ${g}  -> 0`]);
  });

  it('enforces an Instruction plan computation by computation, skipping unchanged clocks', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    const order = oneF1B(3, 1);
    const clocks = [1410, 1380, 1380, 1290, 1350, 1410];
    const computations: PlannedComputation[] = order.map(([instruction, microbatch], i) => ({ instruction, microbatch, chunk: 0, frequencyMhz: clocks[i]! }));
    await h.agent.upsertRank(rankSpec({ plan: { generation: 7, granularity: 'Instruction', stagePlan: { stage: 1, computations } } }));
    const c = await bound(h, {});
    assert.deepEqual(c.replies, [{ type: 'hello', ok: true, v: 1, mode: 'Run', gpus: [GPU1], synchronize: false }]);
    for (const [instruction, microbatch] of order) c.send({ type: 'begin', instruction, microbatch });
    for (const [instruction, microbatch] of order) c.send({ type: 'begin', instruction, microbatch });
    assert.deepEqual(lockedCalls(h, 1).slice(1), [1410, 1380, 1290, 1350, 1410, 1380, 1290, 1350, 1410].map((f) => `nvmlDeviceSetGpuLockedClocks 1 ${f} ${f} -> 0`));
    assert.ok(h.fake.calls().includes('nvmlDeviceSetMemoryLockedClocks 1 1593 1593 -> 0'));
    assert.equal(c.replies.length, 1, 'no replies on the hot path');
    assert.equal(h.agent.rankStatus({ namespace: 'team', name: 'job-p0-s1' })?.appliedPlanGeneration, 7);
    c.send({ type: 'begin', instruction: 'forward', microbatch: 9 });
    assert.deepEqual(c.replies[1], { type: 'error', code: 'BadRequest', field: 'microbatch', expected: "a computation of the rank's plan (microbatch < 3)", message: 'the plan has no forward of microbatch 9 chunk 0' });
    for (const g of [0, 2, 3]) assert.equal(lockedCalls(h, g).length, 1, `GPU ${g} untouched after startup`);
  });

  it('sets a Stage plan once, without a client', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1, GPU2]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1320 } } }));
    assert.equal(h.fake.lockedClockMhz(1), 1320);
    assert.equal(h.fake.lockedClockMhz(2), 1320);
    await h.agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1320 } } }));
    assert.equal(lockedCalls(h, 1).length, 2, 'same plan again: no NVML call');
  });

  it('never lets a connection touch another pod’s GPU', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.pods.set('team/job-worker-2', [GPU2]);
    h.agent.start();
    const plan = (stage: number, f: number) => ({ generation: 1, granularity: 'Instruction' as const, stagePlan: { stage, computations: [{ instruction: 'forward' as const, microbatch: 0, chunk: 0, frequencyMhz: f }] } });
    await h.agent.upsertRank(rankSpec({ plan: plan(1, 1290) }));
    await h.agent.upsertRank(rankSpec({ name: 'job-p0-s2', stage: 2, podName: 'job-worker-2', tokenSha256: sha256('secret-2'), plan: plan(2, 1350) }));

    const stolen = await bound(h, { token: 'secret-2' });
    assert.equal(stolen.replies[0]?.type, 'error');
    assert.equal((stolen.replies[0] as { code: string }).code, 'Unauthorized');
    stolen.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal((stolen.replies[1] as { code: string }).code, 'Unauthorized');

    const wrongPod = await bound(h, { rank: 'job-p0-s2', pod: 'job-worker-1', token: 'secret-2' });
    assert.equal((wrongPod.replies[0] as { code: string; field: string }).field, 'pod');

    const foreignGpu = await bound(h, { gpus: [GPU2] });
    assert.deepEqual(foreignGpu.replies[0], {
      type: 'error',
      code: 'Forbidden',
      field: 'gpus',
      expected: `GPUs allocated to pod team/job-worker-1: ${GPU1}`,
      message: `GPU ${GPU2} is not allocated to pod team/job-worker-1`,
    });

    const mine = await bound(h, {});
    mine.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal(h.fake.lockedClockMhz(1), 1290);
    assert.equal(lockedCalls(h, 2).length, 1, 'GPU 2 only reset at startup');
  });

  it('looks up a pod’s GPUs again until the kubelet has allocated them, then applies the plan', async () => {
    h = createHarness();
    h.agent.start();
    // The rank reaches the agent before the kubelet admitted its pod: no GPUs yet.
    await assert.rejects(
      h.agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1290 } } })),
      /no GPU of node node-a is allocated to it yet/,
    );
    assert.match(h.agent.rankStatus({ namespace: 'team', name: 'job-p0-s1' })?.lastError ?? '', /cannot look up the GPUs of pod team\/job-worker-1/);
    h.advance(5);
    await flush();
    assert.equal(h.fake.lockedClockMhz(1), 0, 'still nothing to lock');
    h.pods.set('team/job-worker-1', [GPU1]);
    h.advance(5);
    await flush();
    assert.equal(h.fake.lockedClockMhz(1), 1290, 'the Stage plan applies once the GPUs are known, with no client');
    assert.deepEqual(h.agent.rankStatus({ namespace: 'team', name: 'job-p0-s1' })?.gpuUuids, [GPU1]);
    // Retries stop once resolved, and a removed rank is never looked up again.
    h.agent.removeRank({ namespace: 'team', name: 'job-p0-s1' });
    h.pods.delete('team/job-worker-1');
    h.advance(30);
    await flush();
    assert.equal(h.fake.lockedClockMhz(1), 0);
  });

  it('resets GPUs when a rank goes Idle, when it is removed, and on shutdown', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.pods.set('team/job-worker-2', [GPU2]);
    h.agent.start();
    const stage = (f: number) => ({ generation: 1, granularity: 'Stage' as const, stagePlan: { stage: 1, computations: [], frequencyMhz: f } });
    await h.agent.upsertRank(rankSpec({ plan: stage(1290) }));
    await h.agent.upsertRank(rankSpec({ name: 'job-p0-s2', podName: 'job-worker-2', plan: stage(1350) }));
    assert.equal(h.fake.lockedClockMhz(1), 1290);
    await h.agent.upsertRank(rankSpec({ mode: 'Idle' }));
    assert.equal(h.fake.lockedClockMhz(1), 0);
    assert.equal(h.fake.lockedClockMhz(2), 1350);
    h.agent.removeRank({ namespace: 'team', name: 'job-p0-s2' });
    assert.equal(h.fake.lockedClockMhz(2), 0);
    await h.agent.upsertRank(rankSpec({ plan: stage(1290) }));
    h.agent.shutdown();
    for (let g = 0; g < 4; g++) {
      assert.equal(h.fake.lockedClockMhz(g), 0);
      assert.equal(lockedCalls(h, g).at(-1), `nvmlDeviceResetGpuLockedClocks ${g}  -> 0`);
    }
  });

  for (const how of ['exception', 'rejection'] as const) {
    it(`resets every GPU and exits 1 on an uncaught ${how}`, function () {
      this.timeout(30000);
      const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
      const r = spawnSync(process.execPath, ['--import', 'tsx', child, how], { encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stdout.trim().split('\n');
      const logPath = lines.find((l) => l.startsWith('LOG '))?.slice(4) ?? '';
      const calls = readFileSync(logPath, 'utf8').trim().split('\n');
      const locked = calls.indexOf('nvmlDeviceSetGpuLockedClocks 1 1290 1290 -> 0');
      assert.ok(locked >= 0, calls.join(' | '));
      assert.ok(calls.slice(locked).includes('nvmlDeviceResetGpuLockedClocks 1  -> 0'), calls.join(' | '));
      const fatal = lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, string>) : undefined)).find((l) => l?.['message']?.startsWith('Fatal error'));
      assert.deepEqual([fatal?.['origin'], fatal?.['error']], [how === 'exception' ? 'uncaughtException' : 'unhandledRejection', `boom (${how})`]);
    });
  }

  it('resets a rank’s GPUs when its connection is gone past the grace period, and re-applies on reconnect', async () => {
    h = createHarness({}, { connectionGraceMs: 5000 });
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    const plan = { generation: 3, granularity: 'Instruction' as const, stagePlan: { stage: 1, computations: [{ instruction: 'forward' as const, microbatch: 0, chunk: 0, frequencyMhz: 1290 }] } };
    await h.agent.upsertRank(rankSpec({ plan }));
    let c = await bound(h, {});
    c.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal(h.fake.lockedClockMhz(1), 1290);
    c.session.close();
    h.advance(4.9);
    assert.equal(h.fake.lockedClockMhz(1), 1290, 'still inside the grace period');
    h.advance(0.2);
    assert.equal(h.fake.lockedClockMhz(1), 0);
    c = await bound(h, {});
    c.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal(h.fake.lockedClockMhz(1), 1290);
  });

  it('fails open when the API server is unreachable past the lease', async () => {
    h = createHarness({}, { apiServerLeaseMs: 60_000 });
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1320 } } }));
    h.advance(30);
    h.agent.apiServerContact();
    h.advance(59);
    assert.equal(h.fake.lockedClockMhz(1), 1320);
    h.advance(2);
    assert.equal(h.fake.lockedClockMhz(1), 0);
    assert.equal(h.agent.leaseValid, false);
    h.agent.apiServerContact();
    assert.equal(h.fake.lockedClockMhz(1), 1320);
  });

  it('profiles a stage: the sweep reproduces the profile the GPU was driven with', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ mode: 'Profile', profiling: { warmupIterations: 1, iterationsPerClock: 2, clockStrideMhz: 0, earlyStop: true } }));
    const c = await bound(h, {});
    assert.deepEqual(c.replies[0], { type: 'hello', ok: true, v: 1, mode: 'Profile', gpus: [GPU1], synchronize: true });
    train(h, c.send, profile, 1, 1, 5 * 3);
    const status = h.agent.rankStatus({ namespace: 'team', name: 'job-p0-s1' });
    const result = status?.profile;
    assert.ok(result, 'profile finished');
    assert.equal(result.stoppedEarly, false);
    const expected = profile.measurements.filter((m) => m.stage === 1);
    assert.equal(result.measurements.length, expected.length);
    for (const m of result.measurements) {
      const want = expected.find((x) => x.instruction === m.instruction && x.frequencyMhz === m.frequencyMhz);
      assert.ok(want, `${m.instruction}@${m.frequencyMhz}`);
      assert.ok(Math.abs(m.timeSeconds - want.timeSeconds) < 1e-9, `time ${m.instruction}@${m.frequencyMhz}: ${m.timeSeconds} vs ${want.timeSeconds}`);
      assert.ok(Math.abs(m.energyJoules - want.energyJoules) < 0.01, `energy ${m.instruction}@${m.frequencyMhz}: ${m.energyJoules} vs ${want.energyJoules}`);
    }
    assert.ok(Math.abs(result.blockingPowerWatts! - 60) < 0.5, `blocking power ${result.blockingPowerWatts}`);
    assert.match(result.csv, /^stage,instruction,frequency,time,energy\n1,forward,1410,/);
    assert.equal(h.fake.lockedClockMhz(1), 0, 'clocks reset after the sweep');
    assert.deepEqual(lockedCalls(h, 1).slice(1, 6), [1410, 1380, 1350, 1320, 1290].map((f) => `nvmlDeviceSetGpuLockedClocks 1 ${f} ${f} -> 0`));
    await flush();
    assert.ok(h.statuses.at(-1)?.status.profile, 'a finished profile is written at once');
  });

  it('sweeps exactly the listed clocks (frequenciesMhz), skipping unsupported ones', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    const profiling = { warmupIterations: 1, iterationsPerClock: 2, clockStrideMhz: 30, earlyStop: false, frequenciesMhz: [1290, 1400, 1410, 1350] };
    await h.agent.upsertRank(rankSpec({ mode: 'Profile', profiling }));
    const c = await bound(h, {});
    train(h, c.send, profile, 1, 1, 3 * 3);
    const result = h.agent.rankStatus({ namespace: 'team', name: 'job-p0-s1' })?.profile;
    assert.ok(result, 'profile finished');
    assert.deepEqual([...new Set(result.measurements.map((m) => m.frequencyMhz))], [1410, 1350, 1290]);
    assert.deepEqual(lockedCalls(h, 1).slice(1, 4), [1410, 1350, 1290].map((f) => `nvmlDeviceSetGpuLockedClocks 1 ${f} ${f} -> 0`));
  });

  it('chooses sweep clocks by stride, bounds, or the exact list', () => {
    const supported = [1410, 1395, 1380, 1365, 1350, 1335, 1320];
    const base = { warmupIterations: 0, iterationsPerClock: 1, clockStrideMhz: 30, earlyStop: true };
    // The stride from the top, plus the clock just below the top and the lowest one.
    assert.deepEqual(sweepClocksMhz(supported, base), [1410, 1395, 1380, 1350, 1320]);
    assert.deepEqual(sweepClocksMhz(supported, { ...base, clockStrideMhz: 60 }), [1410, 1395, 1350, 1320]);
    assert.deepEqual(sweepClocksMhz(supported, { ...base, maxFrequencyMhz: 1400, minFrequencyMhz: 1340 }), [1395, 1380, 1365, 1350]);
    assert.deepEqual(sweepClocksMhz(supported, { ...base, frequenciesMhz: [1320, 1400, 1395, 1335] }), [1395, 1335, 1320]);
    assert.deepEqual(sweepClocksMhz(supported, { ...base, frequenciesMhz: [1320, 1395], minFrequencyMhz: 1350 }), [1395]);
    assert.deepEqual(sweepClocksMhz(supported, { ...base, frequenciesMhz: [1000] }), []);
  });

  it('stops the sweep early once energy rose for 5 clocks past the first third', async () => {
    const clocks = Array.from({ length: 12 }, (_, i) => 1410 - 30 * i);
    const rows = ['stage,instruction,frequency,time,energy'];
    clocks.forEach((f, i) => {
      const e = 20 + Math.abs(i - 3) * 0.5;
      rows.push(`0,forward,${f},${(0.05 * 1410) / f},${e}`, `0,backward,${f},${(0.1 * 1410) / f},${2 * e}`);
    });
    const rising = unwrap(parseStageProfileCsv(rows.join('\n')));
    h = createHarness({ graphics_clocks: clocks.join(',') });
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ stage: 0, mode: 'Profile', profiling: { warmupIterations: 0, iterationsPerClock: 1, clockStrideMhz: 0, earlyStop: true } }));
    const c = await bound(h, {});
    train(h, c.send, rising, 0, 1, 12);
    const result = h.agent.rankStatus({ namespace: 'team', name: 'job-p0-s1' })?.profile;
    assert.ok(result);
    assert.equal(result.stoppedEarly, true);
    assert.deepEqual([...new Set(result.measurements.map((m) => m.frequencyMhz))], clocks.slice(0, 9));
  });

  it('writes rank status at a bounded rate with iteration times and energy', async () => {
    h = createHarness({}, { statusIntervalMs: 5000 });
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ plan: { generation: 2, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1410 } } }));
    const c = await bound(h, {});
    h.fake.setEventReasons(1, 0x40n);
    const before = h.statuses.length;
    for (let i = 0; i < 100; i++) {
      h.fake.setPowerMilliwatts(1, 200_000);
      h.advance(0.01);
      c.send({ type: 'step_end', iterationSeconds: 0.01 });
      await flush();
    }
    assert.ok(h.statuses.length - before <= 1, `at most one write inside the interval, got ${h.statuses.length - before}`);
    h.advance(5);
    await flush();
    const last = h.statuses.at(-1)!.status;
    assert.equal(last.appliedPlanGeneration, 2);
    assert.equal(last.recentIterationSeconds.length, 32);
    assert.ok(Math.abs(last.recentIterationEnergyJoules.at(-1)! - 2) < 0.01, `energy per iteration ${last.recentIterationEnergyJoules.at(-1)}`);
    assert.deepEqual(last.throttleReasons, ['HwThermalSlowdown']);
  });

  it('answers malformed input with an error naming the field and keeps serving', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Instruction', stagePlan: { stage: 1, computations: [{ instruction: 'forward', microbatch: 0, chunk: 0, frequencyMhz: 1290 }] } } }));
    const c = await bound(h, {});
    const cases: [string, string][] = [
      ['not json', '(line)'],
      ['[1,2]', '(line)'],
      ['{"type":"begin","instruction":"sideways","microbatch":0}', 'instruction'],
      ['{"type":"begin","instruction":"forward","microbatch":-1}', 'microbatch'],
      ['{"type":"begin","instruction":"forward","microbatch":0,"chunk":"x"}', 'chunk'],
      ['{"type":"step_end","iterationSeconds":"fast"}', 'iterationSeconds'],
      ['{"type":"launch"}', 'type'],
      ['{"type":"hello","v":1,"namespace":"team","rank":"job-p0-s1","pod":"job-worker-1","token":"secret-1"}', 'type'],
    ];
    for (const [line, field] of cases) {
      c.session.handleLine(line);
      await flush();
      const r = c.replies.at(-1) as { type: string; field?: string; expected?: string };
      assert.equal(r.type, 'error', line);
      assert.equal(r.field, field, line);
      assert.ok(r.expected, line);
    }
    c.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal(h.fake.lockedClockMhz(1), 1290);
  });
});
