// The PerseusRank status written for an agent report: the reported fields, and the rank's Profiled and
// PlanApplied conditions derived from the report and the spec.
import { transitionCondition } from '../api/conditions.ts';
import type { Condition } from '../api/job.ts';
import { RANK_CONDITIONS } from '../api/names.ts';
import type { AgentRankSpec, AgentRankStatus } from './types.ts';

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The rank status (src/api/rank.ts) for an agent report. Fields the agent no longer reports are nulled so
 * that the merge patch removes them. `previous` keeps lastTransitionTime of unchanged conditions.
 */
export function rankStatusPatch(status: AgentRankStatus, spec: AgentRankSpec | undefined, nowMs: number, previous: readonly Condition[] = []): Record<string, unknown> {
  const now = iso(nowMs);
  const conditions: Condition[] = [];
  const condition = (type: string, status: 'True' | 'False', reason: string, message: string): void => {
    conditions.push(transitionCondition(previous, { type, status, reason, message }, now));
  };
  if (status.mode === 'Profile') {
    if (status.profile !== undefined) {
      condition(RANK_CONDITIONS.profiled, 'True', 'SweepComplete', `Measured ${status.profile.measurements.length} rows${status.profile.stoppedEarly ? ' (stopped early: energy kept rising)' : ''}`);
    } else if (status.profilingProgress !== undefined) {
      condition(RANK_CONDITIONS.profiled, 'False', 'InProgress', `Swept ${status.profilingProgress.clocksDone} of ${status.profilingProgress.clocksPlanned} clocks`);
    } else {
      condition(RANK_CONDITIONS.profiled, 'False', 'InProgress', status.lastError ?? 'Waiting for the training connection');
    }
  }
  const wanted = spec?.mode === 'Run' ? spec.plan?.generation : undefined;
  if (status.mode === 'Run' && wanted !== undefined && status.appliedPlanGeneration === wanted) {
    condition(RANK_CONDITIONS.planApplied, 'True', 'PlanApplied', `The clocks follow plan generation ${wanted}`);
  } else if (status.mode === 'Run') {
    condition(RANK_CONDITIONS.planApplied, 'False', status.lastError !== undefined ? 'Error' : 'Pending', status.lastError ?? `Waiting for the pod's GPUs and training connection (plan generation ${wanted ?? 'none'})`);
  } else {
    condition(RANK_CONDITIONS.planApplied, 'False', status.mode, `The rank is in ${status.mode} mode`);
  }
  return {
    node: status.node,
    attempt: spec?.attempt ?? null,
    gpuUuids: [...status.gpuUuids],
    appliedPlanGeneration: status.appliedPlanGeneration ?? null,
    iterations: status.appliedPlanGeneration === undefined ? null : status.recentIterationSeconds.length,
    recentIterationSeconds: status.recentIterationSeconds.slice(-256),
    throttleReasons: [...status.throttleReasons],
    stageProfile: status.profile === undefined ? null : status.profile.measurements.map((m) => ({ ...m })),
    blockingPowerWatts: status.profile?.blockingPowerWatts ?? null,
    profileRound: status.profile?.round ?? null,
    profilingSeconds: status.profile?.seconds ?? null,
    profilingEnergyJoules: status.profile?.energyJoules ?? null,
    lastReportTime: now,
    conditions,
  };
}
