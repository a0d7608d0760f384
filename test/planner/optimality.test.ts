// Brute force: on small DAGs cut from the measured profiles, every clock assignment is enumerated and the
// exact model's plan at each frontier point is compared with the true discrete optimum at that time.
import assert from 'node:assert/strict';
import type { PipelineSpec, StageProfile } from '../../src/api/planner-types.ts';
import { buildPipelineDag, choosePlan, evaluatePlan, longestPath, solveFrontier } from '../../src/planner/index.ts';
import { cutProfile, loadProfile } from './helpers.ts';

interface Case {
  name: string;
  profile: string;
  stages: number[];
  clocks: number[];
  microbatches: number;
  unit: number;
  power: number;
}

/** Sorted true times of all assignments with the prefix minimum of energy, for "best energy within T". */
function enumerate(profile: StageProfile, pipeline: PipelineSpec, clocks: readonly number[], power: number): { times: Float64Array; best: Float64Array } {
  const dag = buildPipelineDag(pipeline);
  assert.ok(dag.ok);
  const d = dag.value;
  const k = clocks.length;
  const t = new Float64Array(d.count * k);
  const e = new Float64Array(d.count * k);
  for (let i = 0; i < d.count; i++) {
    clocks.forEach((f, c) => {
      const m = profile.measurements.find((x) => x.stage === d.stage[i] && x.instruction === (d.instruction[i] === 0 ? 'forward' : 'backward') && x.frequencyMhz === f)!;
      t[i * k + c] = m.timeSeconds;
      e[i * k + c] = m.energyJoules;
    });
  }
  const total = k ** d.count;
  const times = new Float64Array(total);
  const energies = new Float64Array(total);
  const choice = new Int32Array(d.count);
  const dur = new Float64Array(d.count);
  for (let a = 0; a < total; a++) {
    let x = a;
    let energy = 0;
    let busy = 0;
    for (let i = 0; i < d.count; i++) {
      choice[i] = x % k;
      x = Math.floor(x / k);
      dur[i] = t[i * k + choice[i]!]!;
      energy += e[i * k + choice[i]!]!;
      busy += dur[i]!;
    }
    const time = longestPath(d, dur);
    times[a] = time;
    energies[a] = energy + power * (d.stageCount * time - busy);
  }
  const order = Array.from({ length: total }, (_, i) => i).sort((a, b) => times[a]! - times[b]!);
  const sortedTimes = new Float64Array(total);
  const best = new Float64Array(total);
  let run = Infinity;
  order.forEach((idx, j) => {
    sortedTimes[j] = times[idx]!;
    run = Math.min(run, energies[idx]!);
    best[j] = run;
  });
  return { times: sortedTimes, best };
}

function optimumWithin(table: { times: Float64Array; best: Float64Array }, target: number): number {
  let lo = 0;
  let hi = table.times.length - 1;
  if (table.times[0]! > target) return Infinity;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (table.times[mid]! <= target + 1e-12) lo = mid;
    else hi = mid - 1;
  }
  return table.best[lo]!;
}

const cases: Case[] = [
  { name: 'GPT-3 A100, 2 stages × 2 mb, 4 clocks', profile: 'gpt3-175b+a100_sxm_bf16', stages: [6, 7], clocks: [1410, 1200, 1005, 855], microbatches: 2, unit: 0.0005, power: 83.64 },
  { name: 'GPT-3 A100, 3 stages × 2 mb, 3 clocks', profile: 'gpt3-175b+a100_sxm_bf16', stages: [5, 6, 7], clocks: [1410, 1110, 855], microbatches: 2, unit: 0.0005, power: 83.64 },
  { name: 'Bloom A40, 2 stages × 3 mb, 3 clocks', profile: 'bloom+a40_bf16', stages: [6, 7], clocks: [1740, 1305, 900], microbatches: 3, unit: 0.0005, power: 70.38 },
  { name: 'GPT-3 A40, 2 stages × 2 mb, 5 clocks', profile: 'gpt3-175b+a40_bf16', stages: [6, 7], clocks: [1740, 1500, 1305, 1110, 900], microbatches: 2, unit: 0.0005, power: 70.38 },
];

describe('planner optimality against exhaustive search (exact cost model)', function () {
  this.timeout(120000);
  let worstGap = 0;
  after(() => {
    process.stdout.write(`      worst gap to the discrete optimum: ${(worstGap * 100).toFixed(3)} %\n`);
  });
  for (const c of cases) {
    it(`${c.name}: every frontier plan is within 1 % of the optimum at its time`, () => {
      const profile = cutProfile(loadProfile(c.profile), c.stages, c.clocks);
      const pipeline: PipelineSpec = { stages: c.stages.length, microbatches: c.microbatches, schedule: '1F1B' };
      const frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: c.unit, blockingPowerWatts: c.power, costModel: 'exact', granularity: 'Instruction' });
      assert.ok(frontier.points.length > 3, `expected a frontier, got ${frontier.points.length} points`);
      const table = enumerate(profile, pipeline, c.clocks, c.power);
      frontier.points.forEach((p, i) => {
        // Each frontier time as a target: the plan chosen for it (the least-energy point that fits).
        const truth = evaluatePlan(choosePlan(frontier, p.timeSeconds).plan, profile, pipeline, c.power);
        assert.ok(truth.timeSeconds <= p.timeSeconds + 1e-9, `point ${i}: true time ${truth.timeSeconds} exceeds its target ${p.timeSeconds}`);
        const optimum = optimumWithin(table, p.timeSeconds);
        const gap = (truth.energyJoules - optimum) / optimum;
        worstGap = Math.max(worstGap, gap);
        assert.ok(gap <= 0.01, `point ${i} at ${p.timeSeconds} s: plan ${truth.energyJoules} J vs optimum ${optimum} J (gap ${(gap * 100).toFixed(2)} %)`);
      });
    });
  }
});
