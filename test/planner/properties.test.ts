// Property tests over small random pipelines cut from the measured profiles.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CostModel, PipelineSchedule } from '../../src/api/planner-types.ts';
import { buildPipelineDag, choosePlan, evaluatePlan, solveFrontier } from '../../src/planner/index.ts';
import { cutProfile, loadProfile } from './helpers.ts';

const PROFILES = { a100: loadProfile('gpt3-175b+a100_sxm_bf16'), a40: loadProfile('bloom+a40_bf16') };

describe('planner properties', function () {
  this.timeout(120000);
  const arb = fc.record({
    gpu: fc.constantFrom<'a100' | 'a40'>('a100', 'a40'),
    stages: fc.integer({ min: 1, max: 4 }),
    microbatches: fc.integer({ min: 1, max: 6 }),
    schedule: fc.constantFrom<PipelineSchedule>('1F1B', 'GPipe'),
    unit: fc.constantFrom(0.0005, 0.001, 0.002),
    clockStep: fc.integer({ min: 1, max: 6 }),
    costModel: fc.constantFrom<CostModel>('exact', 'lowtime'),
  });

  it('frontier times strictly decrease, clocks exist in the profile, exact plans meet their time', () => {
    fc.assert(
      fc.property(arb, (c) => {
        const base = PROFILES[c.gpu];
        const all = [...new Set(base.measurements.map((m) => m.frequencyMhz))].sort((a, b) => b - a);
        const clocks = all.filter((_, i) => i % c.clockStep === 0);
        const stages = Array.from({ length: c.stages }, (_, i) => 8 - c.stages + i);
        const profile = cutProfile(base, stages, clocks);
        const pipeline = { stages: c.stages, microbatches: c.microbatches, schedule: c.schedule };
        const power = c.gpu === 'a100' ? 83.64 : 70.38;
        let frontier;
        try {
          frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: c.unit, blockingPowerWatts: power, costModel: c.costModel, granularity: 'Instruction' });
        } catch (err) {
          // lowtime needs ≥ 4 quantized options per operation; it must say so, naming the operation.
          assert.match((err as Error).message, /stage \d+ (forward|backward): the lowtime cost model needs at least 4/);
          return;
        }
        const measured = new Set(profile.measurements.map((m) => `${m.stage}/${m.instruction}/${m.frequencyMhz}`));
        for (let i = 1; i < frontier.points.length; i++) assert.ok(frontier.points[i]!.timeSeconds < frontier.points[i - 1]!.timeSeconds);
        const dag = buildPipelineDag(pipeline);
        assert.ok(dag.ok);
        for (let i = 0; i < frontier.points.length; i += Math.max(1, Math.floor(frontier.points.length / 10))) {
          const plan = frontier.planAt(i);
          assert.equal(plan.stages.reduce((n, s) => n + s.computations.length, 0), dag.value.count);
          for (const s of plan.stages) for (const x of s.computations) assert.ok(measured.has(`${s.stage}/${x.instruction}/${x.frequencyMhz}`));
          const truth = evaluatePlan(plan, profile, pipeline, power);
          assert.ok(Math.abs(truth.timeSeconds - frontier.points[i]!.trueTimeSeconds) < 1e-9);
          if (c.costModel === 'exact') assert.ok(truth.timeSeconds <= frontier.points[i]!.timeSeconds + 1e-9, `true ${truth.timeSeconds} > target ${frontier.points[i]!.timeSeconds}`);
        }
        // A looser target never costs more energy.
        if (frontier.points.length > 1) {
          const fast = choosePlan(frontier, frontier.points[frontier.points.length - 1]!.trueTimeSeconds);
          const slow = choosePlan(frontier, frontier.points[0]!.trueTimeSeconds);
          assert.ok(slow.point.trueEnergyJoules <= fast.point.trueEnergyJoules + 1e-9);
        }
      }),
      { numRuns: 60, seed: 20261127 },
    );
  });

  it('builds the 1F1B, GPipe and interleaved schedules with the expected orders', () => {
    const one = buildPipelineDag({ stages: 4, microbatches: 6, schedule: '1F1B' });
    assert.ok(one.ok);
    const order = (s: number): string =>
      Array.from(one.value.stageOrder[s]!, (i) => `${one.value.instruction[i] === 0 ? 'F' : 'B'}${one.value.microbatch[i]}`).join(' ');
    assert.equal(order(0), 'F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5');
    assert.equal(order(3), 'F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5');
    const gpipe = buildPipelineDag({ stages: 2, microbatches: 3, schedule: 'GPipe' });
    assert.ok(gpipe.ok);
    assert.equal(gpipe.value.count, 12);
    const inter = buildPipelineDag({ stages: 2, microbatches: 4, schedule: 'Interleaved1F1B', virtualStages: 2 });
    assert.ok(inter.ok);
    assert.equal(inter.value.count, 2 * 4 * 2 * 2);
    const bad = buildPipelineDag({ stages: 2, microbatches: 3, schedule: 'Interleaved1F1B', virtualStages: 2 });
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.issues[0]!.message, /multiple of stages/);
  });
});
