// The automatic unit time: the finest time quantum whose frontier solve fits a work budget. A finer unit
// plans closer to the measured times (more savings at a tight target) but takes one solver step per unit
// across the iteration's time range, each step walking every computation.
import type { CostModel, PipelineSpec, StageProfile } from '../api/planner-types.ts';
import { buildPipelineDag, longestPath } from './dag.ts';
import { candidateTimeBounds } from './options.ts';
import { PlannerInputError, unwrap } from './result.ts';

/** What an automatic unit time may cost. */
export interface UnitTimeBudget {
  /** Most predicted solver work: computations × unit steps across the time range. */
  readonly maxWork: number;
  /** Most unit steps (frontier points) across the time range. */
  readonly maxSteps: number;
}

/**
 * The default budget: 24 million computation-steps, about 3 s of solving on one core for GPT-3 8 stages ×
 * 96 micro-batches at 1 ms, and 15 000 frontier points (the frontier CSV then stays under 600 KB, well
 * within a ConfigMap).
 */
export const DEFAULT_UNIT_TIME_BUDGET: UnitTimeBudget = { maxWork: 24e6, maxSteps: 15_000 };

/**
 * Work per computation-step by cost model. The exact model's costs are linear between hull vertices, so
 * most steps reuse the last min cut; lowtime's exponential costs change every step, which then solves a flow.
 */
const LOWTIME_WEIGHT: Readonly<Record<CostModel, number>> = { exact: 1, lowtime: 2 };

/** The units an automatic choice picks from, finest first (s): 10 µs to 100 ms in 1–2–5 steps. */
export const UNIT_TIME_LADDER_SECONDS: readonly number[] = [
  1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1,
];

/** The size of a solve, independent of the unit: its computations and the iteration's time range. */
export interface SolveSize {
  /** Computations of one iteration (DAG nodes). */
  readonly computations: number;
  /** Iteration time with every computation at its slowest candidate clock minus at its fastest (s). */
  readonly rangeSeconds: number;
}

/** Computations and time range of solving `pipeline` from `profile` under the cost model. */
export function solveSize(profile: StageProfile, pipeline: PipelineSpec, options: { blockingPowerWatts: number; costModel: CostModel }): SolveSize {
  const dag = unwrap(buildPipelineDag(pipeline));
  if (pipeline.stages !== profile.stageCount) {
    throw new PlannerInputError([{ path: 'stages', message: `the pipeline has ${pipeline.stages} stages but the profile measures ${profile.stageCount}` }]);
  }
  const { fastest, slowest } = candidateTimeBounds(profile, options.blockingPowerWatts, options.costModel);
  // An operation without measurements adds nothing here; the solve itself reports it, naming the operation.
  const at = (bounds: Float64Array): Float64Array => Float64Array.from(dag.stage, (s, i) => bounds[s * 2 + dag.instruction[i]!] || 0);
  return { computations: dag.count, rangeSeconds: Math.max(0, longestPath(dag, at(slowest)) - longestPath(dag, at(fastest))) };
}

/** The finest ladder unit whose predicted work (see autoUnitTimeSeconds) and steps fit `budget`; the coarsest if none does. */
export function unitTimeForSize(size: SolveSize, budget: UnitTimeBudget = DEFAULT_UNIT_TIME_BUDGET, costModel: CostModel = 'exact'): number {
  if (!(budget.maxWork > 0) || !(budget.maxSteps > 0)) {
    throw new PlannerInputError([{ path: 'unitTimeBudget', message: `expected a positive maxWork and maxSteps, got ${budget.maxWork} and ${budget.maxSteps}` }]);
  }
  for (const unit of UNIT_TIME_LADDER_SECONDS) {
    // Tolerance: a range of exactly k units is k steps despite floating-point division.
    const steps = Math.ceil(size.rangeSeconds / unit - 1e-9);
    if (steps <= budget.maxSteps && LOWTIME_WEIGHT[costModel] * size.computations * steps <= budget.maxWork) return unit;
  }
  return UNIT_TIME_LADDER_SECONDS[UNIT_TIME_LADDER_SECONDS.length - 1]!;
}

/**
 * The automatic unit time of a solve: the finest unit of UNIT_TIME_LADDER_SECONDS whose predicted solver
 * work (computations × time range / unit, doubled for lowtime) and frontier points (time range / unit)
 * fit `budget`.
 * Deterministic: it depends on the profile, the pipeline and the cost model only, never on the machine.
 *
 * @example autoUnitTimeSeconds(gpt3A100, { stages: 8, microbatches: 12, schedule: '1F1B' }, { blockingPowerWatts: 83.64, costModel: 'exact' }) // 0.0001
 */
export function autoUnitTimeSeconds(
  profile: StageProfile,
  pipeline: PipelineSpec,
  options: { blockingPowerWatts: number; costModel: CostModel },
  budget: UnitTimeBudget = DEFAULT_UNIT_TIME_BUDGET,
): number {
  return unitTimeForSize(solveSize(profile, pipeline, options), budget, options.costModel);
}
