// Profile + pipeline → Frontier: builds the DAG and the operations, runs the solver, and keeps every point
// (model and true time/energy) with a compact record of the durations so any point's plan can be rebuilt.
import type { FrequencyPlan, FrontierPoint, PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import { ChoiceTables } from './choice.ts';
import { longestPath } from './dag.ts';
import { buildProblem } from './problem.ts';
import { criticalPath, phillipsDessouky, type StopReason } from './solver.ts';

/** A frontier point with the model values (what the solver optimised) and the true values (measured). */
export interface SolvedPoint extends FrontierPoint {
  /** Longest path with the measured times of the planned clocks (s). */
  readonly trueTimeSeconds: number;
  /** Measured energies of the planned clocks plus blocking power while waiting (J). */
  readonly trueEnergyJoules: number;
}

/** The iteration time–energy frontier of one pipeline, slowest point first. */
export interface Frontier {
  readonly pipeline: PipelineSpec;
  readonly options: PlannerOptions;
  readonly stageCount: number;
  readonly points: readonly SolvedPoint[];
  /**
   * The starting plan (every computation at its slowest option), which precedes the first unit step and so
   * is not in `points` (the reference's frontier format); index −1 in planAt and fitPlanToTarget.
   */
  readonly start?: SolvedPoint;
  readonly stopReason: StopReason | 'stage-search';
  /** The frequency plan at point `index`. */
  planAt(index: number): FrequencyPlan;
  /**
   * Point `index`'s plan, with computations on the TRUE critical path sped up (cheapest energy per second
   * first) until the true iteration time fits `targetSeconds`; undefined if even the fastest clocks miss it.
   * Quantization makes model and true times differ by up to a unit per computation on the critical path;
   * this closes that gap when a target is tight (zero slowdown against the all-max baseline).
   */
  fitPlanToTarget(index: number, targetSeconds: number): FittedPlan | undefined;
}

/** A plan fitted to a target time, with its true time and energy. */
export interface FittedPlan {
  readonly plan: FrequencyPlan;
  readonly trueTimeSeconds: number;
  readonly trueEnergyJoules: number;
}

export type ProgressCallback = (done: number, total: number) => void;

const CHECKPOINT_EVERY = 64;

/**
 * Solves the whole frontier (Instruction granularity: Phillips–Dessouky; Stage granularity: see
 * solveStageFrontier). Deterministic; throws PlannerInputError on invalid input.
 */
export function solveFrontier(profile: StageProfile, pipeline: PipelineSpec, options: PlannerOptions, onProgress?: ProgressCallback): Frontier {
  if (options.granularity === 'Stage') return solveStageFrontier(profile, pipeline, options, onProgress);
  const problem = buildProblem(profile, pipeline, options);
  const { dag, specs, specOf } = problem;
  const tables = new ChoiceTables(problem);
  const unit = options.unitTimeSeconds;
  const P = options.blockingPowerWatts;
  const ops = Array.from(specOf, (k) => specs[k]!);

  const fastest = Int32Array.from(ops, (o) => o.minDuration);
  const minTime = criticalPath(dag, fastest).total;
  const duration = Int32Array.from(ops, (o) => o.maxDuration);
  const maxTime = criticalPath(dag, duration).total;
  const total = Math.max(1, maxTime - minTime);

  const points: SolvedPoint[] = [];
  const checkpoints: Int32Array[] = [];
  // The computations each step changed, flat: step k's are deltas[deltaStart[k] .. deltaStart[k + 1]), i sped up, ~i slowed down.
  let deltas = new Int32Array(1024);
  let deltaCount = 0;
  const deltaStart: number[] = [];
  const logStep = (up: readonly number[], down: readonly number[]): void => {
    deltaStart.push(deltaCount);
    if (deltaCount + up.length + down.length > deltas.length) {
      const grown = new Int32Array(2 * (deltaCount + up.length + down.length));
      grown.set(deltas);
      deltas = grown;
    }
    for (const i of up) deltas[deltaCount++] = i;
    for (const i of down) deltas[deltaCount++] = ~i;
  };
  const scratch = new Int32Array(dag.count);
  const record = (quantTime: number, cost: number): void => {
    if (points.length % CHECKPOINT_EVERY === 0) checkpoints.push(duration.slice());
    const choice = scratch;
    if (options.costModel === 'exact') tables.reclaimSlack(choice, quantTime * unit, duration);
    else tables.fromDurations(duration, choice);
    const truth = tables.metrics(choice, P);
    points.push({
      timeSeconds: quantTime * unit,
      energyJoules: cost + dag.stageCount * P * quantTime * unit,
      trueTimeSeconds: truth.timeSeconds,
      trueEnergyJoules: truth.energyJoules,
    });
  };

  const startChoice = tables.fromDurations(duration);
  const startTruth = tables.metrics(startChoice, P);
  const startModelCost = ops.reduce((acc, op, i) => acc + op.cost(duration[i]!), 0);
  const start: SolvedPoint = {
    timeSeconds: maxTime * unit,
    energyJoules: startModelCost + dag.stageCount * P * maxTime * unit,
    trueTimeSeconds: startTruth.timeSeconds,
    trueEnergyJoules: startTruth.energyJoules,
  };
  const solver = phillipsDessouky(dag, ops, duration);
  let stopReason: StopReason = 'limit';
  for (;;) {
    const step = solver.next();
    if (step.done === true) {
      stopReason = step.value;
      break;
    }
    logStep(step.value.spedUp, step.value.slowedDown);
    record(step.value.quantTime, step.value.cost);
    onProgress?.(Math.min(total, maxTime - step.value.quantTime), total);
  }
  // Deltas[k] led to point k; checkpoint c holds the durations of point c·CHECKPOINT_EVERY.
  const durationsAt = (index: number): Int32Array => {
    if (!Number.isInteger(index) || index < 0 || index >= points.length) {
      throw new RangeError(`frontier point index ${index} out of range [0, ${points.length - 1}]`);
    }
    const base = Math.floor(index / CHECKPOINT_EVERY);
    const d = checkpoints[base]!.slice();
    const end = index + 1 < deltaStart.length ? deltaStart[index + 1]! : deltaCount;
    for (let e = deltaStart[base * CHECKPOINT_EVERY + 1] ?? end; e < end; e++) {
      const i = deltas[e]!;
      if (i >= 0) d[i]!--;
      else d[~i]!++;
    }
    return d;
  };
  const choiceAt = (index: number): Int32Array => {
    if (index === -1) return startChoice.slice();
    const choice = tables.fromDurations(durationsAt(index));
    if (options.costModel === 'exact') tables.reclaimSlack(choice, points[index]!.timeSeconds);
    return choice;
  };
  return {
    pipeline,
    options,
    stageCount: dag.stageCount,
    points,
    start,
    stopReason,
    planAt: (index) => tables.plan(choiceAt(index), index === -1 ? start : points[index]!),
    fitPlanToTarget: (index, targetSeconds) => {
      const choice = choiceAt(index);
      const fitted = tables.fitToTarget(choice, targetSeconds, P);
      if (fitted === undefined) return undefined;
      const plan = tables.plan(choice, index === -1 ? start : points[index]!);
      return { plan, trueTimeSeconds: fitted.timeSeconds, trueEnergyJoules: fitted.energyJoules };
    },
  };
}

/**
 * Stage granularity: one clock per stage for the whole iteration. Starting from every stage at its top
 * clock, repeatedly lowers the clock of the stage that saves the most true energy per second of added
 * iteration time (a stage off the critical path saves energy for free), and keeps the time–energy lower
 * envelope of every assignment visited, quantized to the unit time.
 */
export function solveStageFrontier(profile: StageProfile, pipeline: PipelineSpec, options: PlannerOptions, onProgress?: ProgressCallback): Frontier {
  const problem = buildProblem(profile, pipeline, { ...options, costModel: 'exact' });
  const { dag, specs } = problem;
  const S = dag.stageCount;
  const P = options.blockingPowerWatts;
  // A stage's candidate clocks: Pareto-optimal for both its instructions, highest first.
  const clocks: number[][] = [];
  for (let s = 0; s < S; s++) {
    const f = new Set(specs[2 * s]!.pareto.map((o) => o.frequencyMhz));
    const b = specs[2 * s + 1]!.pareto.map((o) => o.frequencyMhz).filter((x) => f.has(x));
    const all = profile.measurements.filter((m) => m.stage === s).map((m) => m.frequencyMhz);
    const list = b.length > 0 ? b : [Math.max(...all)];
    clocks.push([...new Set(list)].sort((x, y) => y - x));
  }
  const byKey = new Map(profile.measurements.map((m) => [`${m.stage}/${m.instruction}/${m.frequencyMhz}`, m]));
  const evaluate = (level: Int32Array): { time: number; energy: number } => {
    const times = new Float64Array(dag.count);
    let energy = 0;
    let busy = 0;
    for (let i = 0; i < dag.count; i++) {
      const s = dag.stage[i]!;
      const m = byKey.get(`${s}/${dag.instruction[i] === 0 ? 'forward' : 'backward'}/${clocks[s]![level[s]!]}`)!;
      times[i] = m.timeSeconds;
      energy += m.energyJoules;
      busy += m.timeSeconds;
    }
    const time = longestPath(dag, times);
    return { time, energy: energy + P * (S * time - busy) };
  };
  const level = new Int32Array(S);
  const visited: Array<{ time: number; energy: number; level: Int32Array }> = [];
  let current = evaluate(level);
  visited.push({ ...current, level: level.slice() });
  const totalSteps = clocks.reduce((a, c) => a + c.length - 1, 0);
  for (let step = 0; step < totalSteps; step++) {
    let best = -1;
    let bestScore = -Infinity;
    let bestEval = current;
    for (let s = 0; s < S; s++) {
      if (level[s]! + 1 >= clocks[s]!.length) continue;
      level[s]!++;
      const e = evaluate(level);
      level[s]!--;
      const saved = current.energy - e.energy;
      const added = Math.max(e.time - current.time, 1e-12);
      const score = saved / added;
      if (saved > 0 && score > bestScore) {
        best = s;
        bestScore = score;
        bestEval = e;
      }
    }
    if (best < 0) break;
    level[best]!++;
    current = bestEval;
    visited.push({ ...current, level: level.slice() });
    onProgress?.(step + 1, totalSteps);
  }
  // The time–energy lower envelope of the visited assignments, slowest first.
  const sorted = [...visited].sort((a, b) => a.time - b.time || a.energy - b.energy);
  const envelope: typeof visited = [];
  for (const v of sorted) if (envelope.length === 0 || v.energy < envelope[envelope.length - 1]!.energy) envelope.push(v);
  envelope.reverse();
  const points: SolvedPoint[] = envelope.map((v) => ({ timeSeconds: v.time, energyJoules: v.energy, trueTimeSeconds: v.time, trueEnergyJoules: v.energy }));
  const levels = envelope.map((v) => v.level);
  const stagePlanAt = (index: number): FrequencyPlan => {
    const lv = levels[index];
    if (lv === undefined) throw new RangeError(`frontier point index ${index} out of range [0, ${points.length - 1}]`);
    const point = points[index]!;
    return {
      granularity: 'Stage',
      modelTimeSeconds: point.timeSeconds,
      modelEnergyJoules: point.energyJoules,
      stages: dag.stageOrder.map((order, stage) => {
        const f = clocks[stage]![lv[stage]!]!;
        return {
          stage,
          frequencyMhz: f,
          computations: Array.from(order, (i) => ({
            instruction: dag.instruction[i] === 0 ? ('forward' as const) : ('backward' as const),
            microbatch: dag.microbatch[i]!,
            chunk: dag.chunk[i]!,
            frequencyMhz: f,
          })),
        };
      }),
    };
  };
  return {
    pipeline,
    options,
    stageCount: S,
    points,
    stopReason: 'stage-search',
    planAt: stagePlanAt,
    // The envelope holds exact true times: a point fits a target or it does not.
    fitPlanToTarget: (index, targetSeconds) => {
      const p = points[index];
      if (p === undefined || p.trueTimeSeconds > targetSeconds + 1e-9) return undefined;
      return { plan: stagePlanAt(index), trueTimeSeconds: p.trueTimeSeconds, trueEnergyJoules: p.trueEnergyJoules };
    },
  };
}
