// A frontier that reaches its target: the crash walk can stop early when a step's flow problem turns
// infeasible, which at some fine units (and profiles whose computations have different clock sets) happens
// well before the all-max iteration time. Such a frontier cannot serve a zero-slowdown plan, so the next
// coarser unit of the automatic ladder is tried (a few times) and the frontier that gets closest is kept.
import type { PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import { solveFrontier, type Frontier, type ProgressCallback } from './frontier.ts';
import { UNIT_TIME_LADDER_SECONDS } from './unit-time.ts';

/** Coarser units tried at most when a frontier stops before the target. */
export const MAX_COARSER_UNITS = 3;

/** The fastest true iteration time on a frontier (its start included). */
export function fastestTrueSeconds(frontier: Frontier): number {
  let fastest = frontier.start?.trueTimeSeconds ?? Infinity;
  for (const p of frontier.points) fastest = Math.min(fastest, p.trueTimeSeconds);
  return fastest;
}

/**
 * Solves the frontier at `options.unitTimeSeconds`; while its fastest point is slower than `targetSeconds`,
 * solves again at the next coarser ladder unit (up to MAX_COARSER_UNITS), keeping the frontier that gets
 * closest to the target (the finest one among equals). Returns it with the unit it was solved at.
 */
export function solveFrontierReaching(
  profile: StageProfile,
  pipeline: PipelineSpec,
  options: PlannerOptions,
  targetSeconds: number,
  progress?: ProgressCallback,
): { frontier: Frontier; unitTimeSeconds: number } {
  let best = { frontier: solveFrontier(profile, pipeline, options, progress), unitTimeSeconds: options.unitTimeSeconds };
  let unit = options.unitTimeSeconds;
  for (let k = 0; k < MAX_COARSER_UNITS && best.frontier.points.length > 0 && fastestTrueSeconds(best.frontier) > targetSeconds + 1e-9; k++) {
    const next = UNIT_TIME_LADDER_SECONDS.find((u) => u > unit * (1 + 1e-9));
    if (next === undefined) break;
    unit = next;
    const frontier = solveFrontier(profile, pipeline, { ...options, unitTimeSeconds: unit }, progress);
    if (frontier.points.length > 0 && fastestTrueSeconds(frontier) < fastestTrueSeconds(best.frontier) - 1e-9) best = { frontier, unitTimeSeconds: unit };
  }
  return best;
}
