import assert from 'node:assert/strict';
import { solveFrontier } from '../../src/planner/index.ts';
import { loadGoldenFrontier, loadProfile } from './helpers.ts';

describe('planner golden frontiers (lowtime cost model against the reference)', () => {
  const profile = loadProfile('gpt3-175b+a100_sxm_bf16');
  for (const microbatches of [12, 24]) {
    it(`GPT-3 175B A100, 8 stages × ${microbatches} micro-batches matches point for point`, () => {
      const golden = loadGoldenFrontier(`gpt3-175b_bf16_mb${microbatches}.csv`);
      const frontier = solveFrontier(
        profile,
        { stages: 8, microbatches, schedule: '1F1B' },
        { unitTimeSeconds: 0.001, blockingPowerWatts: 83.64, costModel: 'lowtime', granularity: 'Instruction' },
      );
      assert.equal(frontier.points.length, golden.length);
      let worst = 0;
      golden.forEach(([time, energy], i) => {
        const p = frontier.points[i]!;
        assert.ok(Math.abs(p.timeSeconds - time) < 1e-9, `point ${i}: time ${p.timeSeconds} ≠ ${time}`);
        const rel = Math.abs(p.energyJoules - energy) / energy;
        worst = Math.max(worst, rel);
        assert.ok(rel <= 1e-5, `point ${i}: energy ${p.energyJoules} vs ${energy} (relative ${rel})`);
      });
      assert.ok(worst < 1e-5);
    });
  }
});
