// Model-based profiling: the fitted model passes through every measurement and never extrapolates; the
// refinement targets are exactly the fitted clocks a sketched plan uses; and the rounds, run against the
// bundled measured profile as the GPUs' truth, end in a plan that uses measured clocks only.
import assert from 'node:assert/strict';
import type { PipelineSpec, PlannerOptions, ProfileMeasurement, StageProfile } from '../../src/api/planner-types.ts';
import { allMaxPlan, choosePlan, evaluatePlan, solveFrontier } from '../../src/planner/index.ts';
import { fitInverseClock, fitModelProfile, refinementTargets } from '../../src/planner/profile-model.ts';
import { measuredProfile, modelOf, nextRound, type ProfilingState } from '../../src/controller/profiling-rounds.ts';
import { cutProfile, loadProfile } from './helpers.ts';

const key = (m: { stage: number; instruction: string; frequencyMhz: number }): string => `${m.stage}/${m.instruction}/${m.frequencyMhz}`;

describe('profile model', () => {
  it('fits t = a/f + b exactly on points of that form', () => {
    const rows: ProfileMeasurement[] = [900, 1200, 1410].map((f) => ({ stage: 0, instruction: 'forward', frequencyMhz: f, timeSeconds: 30 / f + 0.01, energyJoules: 1 }));
    const [a, b] = fitInverseClock(rows);
    assert.ok(Math.abs(a - 30) < 1e-9, `a = ${a}`);
    assert.ok(Math.abs(b - 0.01) < 1e-12, `b = ${b}`);
  });

  it('keeps every measured row, fills the grid inside the measured range only, and marks fitted rows', () => {
    const truth = loadProfile('gpt3-175b+a100_sxm_bf16');
    const measured = truth.measurements.filter((m) => [1410, 1290, 1170, 1050].includes(m.frequencyMhz));
    const grid = [1440, 1410, 1395, 1380, 1290, 1200, 1050, 1035, 900];
    const model = fitModelProfile(measured, grid);
    for (const m of measured) {
      const row = model.find((r) => key(r) === key(m));
      assert.ok(row !== undefined && !row.fitted && row.timeSeconds === m.timeSeconds && row.energyJoules === m.energyJoules, `measured ${key(m)} kept`);
    }
    const clocks = new Set(model.map((r) => r.frequencyMhz));
    for (const outside of [1440, 1035, 900]) assert.ok(!clocks.has(outside), `${outside} MHz lies outside the measured range`);
    const fitted = model.filter((r) => r.fitted);
    assert.equal(fitted.length, 3 * 2 * truth.stageCount, 'three unmeasured grid clocks (1395, 1380, 1200) inside the range, per stage and instruction');
    // Between its measured neighbours, a fitted time lies between theirs (time falls with the clock).
    for (const r of fitted.filter((x) => x.frequencyMhz === 1200)) {
      const lo = measured.find((m) => key(m) === key({ ...r, frequencyMhz: 1170 }))!;
      const hi = measured.find((m) => key(m) === key({ ...r, frequencyMhz: 1290 }))!;
      assert.ok(r.timeSeconds < lo.timeSeconds && r.timeSeconds > hi.timeSeconds, `${key(r)}: ${r.timeSeconds} between ${hi.timeSeconds} and ${lo.timeSeconds}`);
    }
  });

  it('asks for the fitted clocks a plan uses, and their fitted neighbours on request', () => {
    const truth = cutProfile(loadProfile('gpt3-175b+a100_sxm_bf16'), [0, 1], [1410, 1395, 1380, 1365, 1350]);
    const measured = truth.measurements.filter((m) => m.frequencyMhz === 1410 || m.frequencyMhz === 1350);
    const model = fitModelProfile(measured, [1410, 1395, 1380, 1365, 1350]);
    const plan = allMaxPlan(truth, { stages: 2, microbatches: 2, schedule: '1F1B' });
    const stage0 = plan.stages[0]!;
    const edited = { ...plan, stages: [{ ...stage0, computations: stage0.computations.map((c, i) => (i === 0 ? { ...c, frequencyMhz: 1380 } : c)) }, plan.stages[1]!] };
    const first = stage0.computations[0]!.instruction;
    assert.deepEqual([...refinementTargets(plan, model, 0)], [], 'an all-max plan uses measured clocks only');
    const around = [...refinementTargets(plan, model, 1)];
    assert.deepEqual(around, [0, 1].map((stage) => [stage, { forward: [1395], backward: [1395] }]), 'the fitted neighbour of a measured clock in use');
    assert.deepEqual([...refinementTargets(edited, model, 0)], [[0, { forward: first === 'forward' ? [1380] : [], backward: first === 'backward' ? [1380] : [] }]]);
    const withNeighbours = refinementTargets(edited, model, 1).get(0)!;
    assert.deepEqual(withNeighbours[first], [1395, 1380, 1365]);
  });
});

describe('profiling rounds against the measured profile as truth', function () {
  this.timeout(120_000);
  const truth = loadProfile('gpt3-175b+a100_sxm_bf16');
  const pipeline: PipelineSpec = { stages: 8, microbatches: 12, schedule: '1F1B' };
  const options: PlannerOptions = { unitTimeSeconds: 0.001, blockingPowerWatts: truth.blockingPowerWatts ?? 83.64, costModel: 'exact', granularity: 'Instruction' };
  const grid = [...new Set(truth.measurements.map((m) => m.frequencyMhz))].filter((f) => f >= 900);
  const byKey = new Map(truth.measurements.map((m) => [key(m), m]));
  const baseline = evaluatePlan(allMaxPlan(truth, pipeline), truth, pipeline, options.blockingPowerWatts);
  const plan = (p: StageProfile): ReturnType<typeof choosePlan> => choosePlan(solveFrontier(p, pipeline, options), baseline.timeSeconds);

  it('never plans on a clock whose values were only fitted, and ends above the first round', () => {
    const first = truth.measurements.filter((m) => [1410, 1395, 1290, 1170, 1050, 930, 900].includes(m.frequencyMhz));
    let state: ProfilingState = { rounds: [{ round: 1, rows: first, gpuSeconds: 1, energyJoules: 1 }], blockingPowerWatts: truth.blockingPowerWatts! };
    let sketchUsedFitted = false;
    for (let round = 2; round <= 5; round++) {
      const model = modelOf(state, 8);
      assert.ok(model.rows.some((r) => r.fitted && grid.includes(r.frequencyMhz)));
      const sketch = plan(model.profile);
      const next = nextRound(state, sketch.plan, sketch.point.trueEnergyJoules, baseline.energyJoules, model.rows, { maxRounds: 3, neighbours: 1, tolerancePercent: 0.05 });
      if (next.targets.size > 0) sketchUsedFitted = true;
      if (next.stop) break;
      const rows = [...next.targets].flatMap(([stage, t]) => (['forward', 'backward'] as const).flatMap((i) => t[i].map((f) => byKey.get(key({ stage, instruction: i, frequencyMhz: f }))!)));
      state = { ...state, rounds: [...state.rounds, { round, rows, gpuSeconds: 1, energyJoules: 1, sketchEnergyJoules: sketch.point.trueEnergyJoules }] };
    }
    assert.ok(sketchUsedFitted, 'the sketch on the model used fitted clocks (so the rule was exercised)');
    const final = measuredProfile(state, 8);
    const measured = new Set(final.measurements.map(key));
    const chosen = plan(final);
    for (const s of chosen.plan.stages) {
      for (const c of s.computations) assert.ok(measured.has(key({ stage: s.stage, instruction: c.instruction, frequencyMhz: c.frequencyMhz })), `stage ${s.stage} ${c.instruction} ${c.frequencyMhz} MHz was measured`);
    }
    const savings = (p: ReturnType<typeof choosePlan>): number => 1 - evaluatePlan(p.plan, truth, pipeline, options.blockingPowerWatts).energyJoules / baseline.energyJoules;
    const firstOnly = savings(plan({ ...truth, measurements: first }));
    const refined = savings(chosen);
    assert.ok(refined > firstOnly + 0.005, `refined ${(refined * 100).toFixed(2)} % vs first round ${(firstOnly * 100).toFixed(2)} %`);
    assert.ok(state.rounds.length >= 2 && state.rounds.length <= 4, `${state.rounds.length} rounds`);
  });
});
