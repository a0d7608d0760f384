// Plans and their truth: the all-max-clock baseline, the TRUE time and energy of any plan (longest path with
// measured times; measured energies plus blocking power), and the straggler lookup on a solved frontier.
import type { FrequencyPlan, PipelineSpec, PlanGranularity, StageProfile } from '../api/planner-types.ts';
import { buildPipelineDag, longestPath } from './dag.ts';
import type { Frontier, SolvedPoint } from './frontier.ts';
import { commonClocksMhz, MeasurementTable } from './profile.ts';
import { PlannerInputError, unwrap } from './result.ts';

/** True iteration time and energy of a plan. */
export interface PlanEvaluation {
  readonly timeSeconds: number;
  readonly energyJoules: number;
}

/** Every computation at the highest clock measured for all stages: "no energy optimization". */
export function allMaxPlan(profile: StageProfile, pipeline: PipelineSpec, granularity: PlanGranularity = 'Instruction'): FrequencyPlan {
  const top = commonClocksMhz(profile)[0];
  if (top === undefined) throw new PlannerInputError([{ path: 'frequency', message: 'the profile has no clock common to all stages' }]);
  const dag = unwrap(buildPipelineDag(pipeline));
  return {
    granularity,
    modelTimeSeconds: Number.NaN,
    modelEnergyJoules: Number.NaN,
    stages: dag.stageOrder.map((order, stage) => ({
      stage,
      ...(granularity === 'Stage' ? { frequencyMhz: top } : {}),
      computations: Array.from(order, (i) => ({
        instruction: dag.instruction[i] === 0 ? ('forward' as const) : ('backward' as const),
        microbatch: dag.microbatch[i]!,
        chunk: dag.chunk[i]!,
        frequencyMhz: top,
      })),
    })),
  };
}

/**
 * The TRUE iteration time (longest path with the measured time of each computation at its planned clock)
 * and TRUE energy (measured energies + blocking power × (stages × time − busy time)) of `plan`.
 */
export function evaluatePlan(plan: FrequencyPlan, profile: StageProfile, pipeline: PipelineSpec, blockingPowerWatts: number): PlanEvaluation {
  const dag = unwrap(buildPipelineDag(pipeline));
  const table = new MeasurementTable(profile);
  if (plan.stages.length !== dag.stageCount) {
    throw new PlannerInputError([{ path: 'plan.stages', message: `expected ${dag.stageCount} stages, got ${plan.stages.length}` }]);
  }
  const times = new Float64Array(dag.count);
  let energy = 0;
  let busy = 0;
  dag.stageOrder.forEach((order, s) => {
    const stagePlan = plan.stages[s]!;
    if (stagePlan.computations.length !== order.length) {
      throw new PlannerInputError([{ path: `plan.stages[${s}].computations`, message: `expected ${order.length} computations, got ${stagePlan.computations.length}` }]);
    }
    order.forEach((i, k) => {
      const c = stagePlan.computations[k]!;
      const inst = dag.instruction[i] === 0 ? 'forward' : 'backward';
      if (c.instruction !== inst || c.microbatch !== dag.microbatch[i]) {
        throw new PlannerInputError([{ path: `plan.stages[${s}].computations[${k}]`, message: `expected ${inst} of micro-batch ${dag.microbatch[i]}, got ${c.instruction} of ${c.microbatch}` }]);
      }
      const m = table.get(s, inst, c.frequencyMhz);
      times[i] = m.timeSeconds;
      energy += m.energyJoules;
      busy += m.timeSeconds;
    });
  });
  const time = longestPath(dag, times);
  return { timeSeconds: time, energyJoules: energy + blockingPowerWatts * (dag.stageCount * time - busy) };
}

/** A chosen frontier point with its plan; the point's true values are those of the plan returned. */
export interface ChosenPlan {
  readonly index: number;
  readonly point: SolvedPoint;
  readonly plan: FrequencyPlan;
  /** True when the point's plan was sped up on its true critical path to fit the target. */
  readonly fitted: boolean;
}

const TIME_EPSILON = 1e-9;
/** How many points just slower than the target are tried with fitPlanToTarget. */
const FIT_CANDIDATES = 8;

/** Index of the least-true-energy point whose true time fits `targetSeconds` (−1: the starting plan); the fastest if none fits. */
export function choosePointIndex(frontier: Frontier, targetSeconds: number): number {
  let best = -2;
  let fastest = -2;
  const at = (i: number): SolvedPoint => (i === -1 ? frontier.start! : frontier.points[i]!);
  const first = frontier.start === undefined ? 0 : -1;
  for (let i = first; i < frontier.points.length; i++) {
    const p = at(i);
    if (fastest < -1 || p.trueTimeSeconds < at(fastest).trueTimeSeconds) fastest = i;
    if (p.trueTimeSeconds <= targetSeconds + TIME_EPSILON && (best < -1 || p.trueEnergyJoules < at(best).trueEnergyJoules)) best = i;
  }
  if (fastest < -1) throw new RangeError('the frontier has no points');
  return best >= -1 ? best : fastest;
}

/**
 * The straggler lookup: the least-energy plan whose TRUE iteration time fits `targetSeconds` (so with a
 * straggler at T′ the other pipelines move to min(T′, T*)). A lookup, not a re-solve: the points just
 * slower than the target are fitted to it on their true critical path, and the cheapest fit wins.
 */
export function choosePlan(frontier: Frontier, targetSeconds: number): ChosenPlan {
  const index = choosePointIndex(frontier, targetSeconds);
  const direct = index === -1 ? frontier.start! : frontier.points[index]!;
  let chosen: ChosenPlan | undefined =
    direct.trueTimeSeconds <= targetSeconds + TIME_EPSILON ? { index, point: direct, plan: frontier.planAt(index), fitted: false } : undefined;
  const above = frontier.points
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.trueTimeSeconds > targetSeconds + TIME_EPSILON)
    .sort((a, b) => a.p.trueTimeSeconds - b.p.trueTimeSeconds)
    .slice(0, FIT_CANDIDATES);
  for (const { p, i } of above) {
    if (chosen !== undefined && p.trueEnergyJoules >= chosen.point.trueEnergyJoules) continue;
    const fit = frontier.fitPlanToTarget(i, targetSeconds);
    if (fit === undefined || (chosen !== undefined && fit.trueEnergyJoules >= chosen.point.trueEnergyJoules)) continue;
    chosen = { index: i, point: { ...p, trueTimeSeconds: fit.trueTimeSeconds, trueEnergyJoules: fit.trueEnergyJoules }, plan: fit.plan, fitted: true };
  }
  return chosen ?? { index, point: direct, plan: frontier.planAt(index), fitted: false };
}

/** The fastest plan on the frontier (what a straggler's own ranks run). */
export function fastestPlan(frontier: Frontier): ChosenPlan {
  return choosePlan(frontier, 0);
}

/** The minimum-energy point T* (by true energy). */
export function minimumEnergyPlan(frontier: Frontier): ChosenPlan {
  return choosePlan(frontier, Infinity);
}

/** The frontier as `time,energy` CSV (model values; the reference's golden format), slowest first. */
export function frontierToCsv(frontier: Frontier): string {
  return `time,energy\n${frontier.points.map((p) => `${p.timeSeconds},${p.energyJoules}`).join('\n')}\n`;
}
