import assert from 'node:assert/strict';
import { envPipePlan } from '../../src/planner/baselines/envpipe.ts';
import { allMaxPlan, choosePlan, evaluatePlan, solveFrontier } from '../../src/planner/index.ts';
import { loadProfile } from './helpers.ts';

describe('EnvPipe baseline', () => {
  it('keeps the envelope at the top clock, fits the all-max time, and saves less than Perseus', () => {
    const profile = loadProfile('gpt3-175b+a100_sxm_bf16');
    const pipeline = { stages: 8, microbatches: 12, schedule: '1F1B' as const };
    const baseline = evaluatePlan(allMaxPlan(profile, pipeline), profile, pipeline, 83.64);
    const { plan, truth } = envPipePlan(profile, pipeline, 83.64);
    assert.ok(truth.timeSeconds <= baseline.timeSeconds + 1e-9);
    assert.ok(truth.energyJoules < baseline.energyJoules * 0.95, `EnvPipe ${truth.energyJoules} J vs ${baseline.energyJoules} J`);
    assert.ok(plan.stages[7]!.computations.every((c) => c.frequencyMhz === 1410), 'the last stage runs at the top clock');
    for (const s of plan.stages) assert.equal(s.computations.find((c) => c.instruction === 'forward')!.frequencyMhz, 1410);
    const frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: 0.001, blockingPowerWatts: 83.64, costModel: 'exact', granularity: 'Instruction' });
    const perseus = choosePlan(frontier, baseline.timeSeconds).point.trueEnergyJoules;
    assert.ok(perseus < truth.energyJoules, `Perseus ${perseus} J should beat EnvPipe ${truth.energyJoules} J`);
  });
});
