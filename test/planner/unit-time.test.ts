// The automatic unit time: the finest ladder unit whose predicted work and frontier points fit the budget,
// chosen from the problem's size alone (never from a clock), so the same inputs always get the same unit.
import assert from 'node:assert/strict';
import type { CostModel } from '../../src/api/planner-types.ts';
import { autoUnitTimeSeconds, DEFAULT_UNIT_TIME_BUDGET, PlannerInputError, solveSize, UNIT_TIME_LADDER_SECONDS, unitTimeForSize } from '../../src/planner/index.ts';
import { loadProfile } from './helpers.ts';

const A100 = { profile: loadProfile('gpt3-175b+a100_sxm_bf16'), power: 83.64 };
const A40 = { profile: loadProfile('gpt3-175b+a40_bf16'), power: 70.38 };

describe('automatic unit time', () => {
  it('measures a solve by its computations and its time range', () => {
    const size = solveSize(A100.profile, { stages: 8, microbatches: 12, schedule: '1F1B' }, { blockingPowerWatts: A100.power, costModel: 'exact' });
    assert.equal(size.computations, 192);
    // The exact solver at 1 ms takes 1409 unit steps from the slowest to the fastest point.
    assert.ok(Math.abs(size.rangeSeconds - 1.4077) < 5e-4, `range ${size.rangeSeconds}`);
    // lowtime's hard Pareto filter drops the slow clocks that spend more energy: a shorter range.
    const lowtime = solveSize(A100.profile, { stages: 8, microbatches: 12, schedule: '1F1B' }, { blockingPowerWatts: A100.power, costModel: 'lowtime' });
    assert.ok(lowtime.rangeSeconds < size.rangeSeconds / 2, `lowtime range ${lowtime.rangeSeconds}`);
  });

  const cases: Array<{ name: string; gpu: typeof A100; microbatches: number; costModel: CostModel; unit: number }> = [
    { name: 'GPT-3 A100 8×12 exact', gpu: A100, microbatches: 12, costModel: 'exact', unit: 1e-4 },
    { name: 'GPT-3 A100 8×24 exact', gpu: A100, microbatches: 24, costModel: 'exact', unit: 2e-4 },
    { name: 'GPT-3 A100 8×96 exact', gpu: A100, microbatches: 96, costModel: 'exact', unit: 1e-3 },
    { name: 'GPT-3 A100 8×96 lowtime', gpu: A100, microbatches: 96, costModel: 'lowtime', unit: 5e-4 },
    { name: 'GPT-3 A40 8×256 exact', gpu: A40, microbatches: 256, costModel: 'exact', unit: 5e-3 },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.unit * 1000} ms, the same on every call`, () => {
      const pipeline = { stages: 8, microbatches: c.microbatches, schedule: '1F1B' as const };
      const options = { blockingPowerWatts: c.gpu.power, costModel: c.costModel };
      const unit = autoUnitTimeSeconds(c.gpu.profile, pipeline, options);
      assert.equal(unit, c.unit);
      assert.equal(autoUnitTimeSeconds(c.gpu.profile, pipeline, options), unit);
      // The chosen unit fits the default budget and the next finer one does not.
      const size = solveSize(c.gpu.profile, pipeline, options);
      const weight = c.costModel === 'lowtime' ? 2 : 1;
      const fits = (u: number): boolean => {
        const steps = Math.ceil(size.rangeSeconds / u - 1e-9);
        return steps <= DEFAULT_UNIT_TIME_BUDGET.maxSteps && weight * size.computations * steps <= DEFAULT_UNIT_TIME_BUDGET.maxWork;
      };
      assert.ok(fits(unit));
      const finer = UNIT_TIME_LADDER_SECONDS[UNIT_TIME_LADDER_SECONDS.indexOf(unit) - 1];
      if (finer !== undefined) assert.equal(fits(finer), false, `${finer} s would fit too`);
    });
  }

  it('follows the budget: more work allowed, a finer unit; less, a coarser one', () => {
    const size = { computations: 1000, rangeSeconds: 2 };
    // 0.1 ms would be 20 000 points (over 15 000); 0.2 ms is 10 000 points and 10 million computation-steps.
    assert.equal(unitTimeForSize(size), 2e-4);
    assert.equal(unitTimeForSize(size, { maxWork: 2e6, maxSteps: 15_000 }), 1e-3);
    assert.equal(unitTimeForSize(size, { maxWork: 1e12, maxSteps: 1e6 }), 1e-5);
    // lowtime's steps count double.
    assert.equal(unitTimeForSize(size, { maxWork: 1e7, maxSteps: 15_000 }, 'exact'), 2e-4);
    assert.equal(unitTimeForSize(size, { maxWork: 1e7, maxSteps: 15_000 }, 'lowtime'), 5e-4);
    // Nothing fits: the coarsest unit of the ladder.
    assert.equal(unitTimeForSize({ computations: 1e9, rangeSeconds: 2 }), 0.1);
  });

  it('rejects a budget that allows nothing, naming it', () => {
    assert.throws(
      () => unitTimeForSize({ computations: 10, rangeSeconds: 1 }, { maxWork: 0, maxSteps: 100 }),
      (err: unknown) => err instanceof PlannerInputError && err.issues[0]!.path === 'unitTimeBudget' && /positive maxWork and maxSteps/.test(err.issues[0]!.message),
    );
  });

  it('names the stage count that does not match the profile', () => {
    assert.throws(
      () => autoUnitTimeSeconds(A100.profile, { stages: 4, microbatches: 4, schedule: '1F1B' }, { blockingPowerWatts: A100.power, costModel: 'exact' }),
      /the pipeline has 4 stages but the profile measures 8/,
    );
  });
});
