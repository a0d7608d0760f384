// The ends of a job: failing it (any phase), succeeding it (Running), and what a finished job keeps doing:
// clocks released, pods gone, and the job itself deleted after ttlSecondsAfterFinished.
import { JOB_CONDITIONS, type JobPhase, type JobStatus } from '../api/index.ts';
import { deletePods, idleRanks } from './children.ts';
import { withActions, withCondition, withPhase, withRequeue, withStatus, type DecideContext, type Decision } from './decision.ts';

const TERMINAL: readonly JobPhase[] = ['Succeeded', 'Failed'];

export function isFinished(status: JobStatus): boolean {
  return status.phase !== undefined && TERMINAL.includes(status.phase);
}

/** A finished job: keep its clocks released and pods gone; collect it after ttlSecondsAfterFinished. */
export function keepFinished(ctx: DecideContext, d: Decision): Decision {
  const { o } = ctx;
  let out = withActions(d, { rankPatches: idleRanks(o), podDeletes: d.status.phase === 'Failed' ? deletePods(o, 'JobFailed', true) : [] });
  // The spec is read unvalidated: a finished job is never validated again.
  const ttl = o.job.spec.runPolicy?.ttlSecondsAfterFinished;
  if (ttl !== undefined && out.status.completionTime !== undefined) {
    const dueMs = Date.parse(out.status.completionTime) + ttl * 1000;
    if (o.nowMs >= dueMs) out = { ...out, deleteJob: true };
    else out = withRequeue(out, dueMs - o.nowMs);
  }
  return out;
}

/** Fails the job: phase Failed with a Warning, condition Failed, running pods deleted, ranks Idle. */
export function failJob(ctx: DecideContext, d: Decision, reason: string, message: string): Decision {
  let out = withPhase(d, 'Failed', reason, message, 'Warning');
  out = withCondition(ctx, out, JOB_CONDITIONS.failed, 'True', reason, message);
  out = withStatus(out, { ...out.status, completionTime: out.status.completionTime ?? ctx.now });
  return withActions(out, { podDeletes: deletePods(ctx.o, reason, true), rankPatches: idleRanks(ctx.o) });
}

/**
 * Succeeds the job once all `succeeded` workers have: nothing more is created or patched (the running
 * phase's creates and patches are dropped), ranks go Idle, and the job is collected after its TTL.
 */
export function succeedJob(ctx: DecideContext, d: Decision, succeeded: number, ttlSeconds: number | undefined): Decision {
  let out = withPhase(d, 'Succeeded', 'Completed', `All ${succeeded} workers succeeded`);
  out = withCondition(ctx, out, JOB_CONDITIONS.complete, 'True', 'Completed', `All ${succeeded} workers succeeded`);
  out = withStatus(out, { ...out.status, completionTime: ctx.now });
  out = withActions({ ...out, creates: [], rankPatches: [] }, { rankPatches: idleRanks(ctx.o) });
  return ttlSeconds === undefined ? out : withRequeue(out, ttlSeconds * 1000);
}
