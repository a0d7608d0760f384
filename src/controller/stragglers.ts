// Straggler detection from the ranks' reports: a pipeline whose measured iteration time exceeds the time of
// the plan it runs by more than `threshold`, averaged over `window` iterations of the current plan
// generation (so the slowdown a plan causes on purpose never counts), is a straggler; it recovers below
// half the threshold. A straggler whose pace changes by more than the threshold is re-measured, so the
// other pipelines follow it to the new target, but only once its window holds one pace (every sample
// within the threshold of the others): a window that mixes the old and the new pace, as while it
// recovers, is a transition, and re-planning for its mean would only be undone a few iterations later.
import { rankName, type JobStatus, type PerseusRank } from '../api/index.ts';

export type StragglerEntry = NonNullable<JobStatus['stragglers']>[number];

/** Throttle reasons the plan itself causes (its locked clocks); never evidence of a straggler. */
const PLAN_THROTTLE_REASONS = new Set(['ApplicationsClocksSetting', 'SwClockLock', 'None']);

export interface DetectionInput {
  readonly ranks: ReadonlyMap<string, PerseusRank>;
  readonly jobName: string;
  readonly pipelines: number;
  readonly stages: number;
  readonly generation: number;
  /** The job's restart attempt: reports the agents wrote for an older one (the pods of before a gang restart) do not count. */
  readonly attempt?: number;
  readonly window: number;
  readonly threshold: number;
  readonly current: readonly StragglerEntry[];
  /** Iteration time of the plan pipeline `p` runs now (s). */
  readonly expectedSeconds: (pipeline: number) => number;
  readonly now: string;
}

/**
 * Mean of the last `window` iteration times of a pipeline's ranks under `generation` (the slowest rank);
 * `steady` when every rank's window spans at most the threshold (max/min ≤ 1 + threshold).
 */
export function measuredPipelineSeconds(input: DetectionInput, pipeline: number): { seconds: number; steady: boolean; throttle: string[] } | undefined {
  let slowest: number | undefined;
  let steady = true;
  const throttle = new Set<string>();
  for (let stage = 0; stage < input.stages; stage++) {
    const rank = input.ranks.get(rankName(input.jobName, pipeline, stage));
    const status = rank?.status;
    // Every stage must have reported a full window: the pipeline's time is its slowest stage's, and a
    // partial view (the last stage reports less time than the first in 1F1B) would read as a recovery.
    if (status === undefined || status.appliedPlanGeneration !== input.generation || (status.attempt ?? 0) !== (input.attempt ?? 0)) return undefined;
    const samples = status.recentIterationSeconds ?? [];
    if (samples.length < input.window) return undefined;
    const last = samples.slice(-input.window);
    const mean = last.reduce((a, b) => a + b, 0) / last.length;
    if (Math.max(...last) > Math.min(...last) * (1 + input.threshold)) steady = false;
    slowest = slowest === undefined ? mean : Math.max(slowest, mean);
    for (const r of status.throttleReasons ?? []) if (!PLAN_THROTTLE_REASONS.has(r)) throttle.add(r);
  }
  return slowest === undefined ? undefined : { seconds: slowest, steady, throttle: [...throttle].sort() };
}

/** The new straggler set; `changed` when a pipeline became or stopped being a straggler, or a straggler's pace moved. */
export function detectStragglers(input: DetectionInput): { stragglers: StragglerEntry[]; changed: boolean } {
  const next: StragglerEntry[] = [];
  let changed = false;
  for (let p = 0; p < input.pipelines; p++) {
    const existing = input.current.find((s) => s.pipeline === p);
    const measured = measuredPipelineSeconds(input, p);
    const expected = input.expectedSeconds(p);
    if (measured === undefined || !(expected > 0)) {
      if (existing !== undefined) next.push(existing);
      continue;
    }
    const slowdown = measured.seconds / expected;
    if (existing === undefined && slowdown > 1 + input.threshold) {
      changed = true;
      next.push({ pipeline: p, iterationSeconds: measured.seconds, slowdown, since: input.now, ...(measured.throttle.length > 0 ? { throttleReasons: measured.throttle } : {}) });
    } else if (existing !== undefined && slowdown > 1 + input.threshold / 2) {
      // A straggler that got slower or faster by more than the threshold, and holds its new pace, moves the others' target.
      if (measured.steady && Math.abs(measured.seconds / existing.iterationSeconds - 1) > input.threshold) {
        changed = true;
        next.push({ ...existing, iterationSeconds: measured.seconds, slowdown, ...(measured.throttle.length > 0 ? { throttleReasons: measured.throttle } : {}) });
      } else next.push(existing);
    } else if (existing !== undefined) {
      changed = true;
    }
  }
  return { stragglers: next, changed };
}
