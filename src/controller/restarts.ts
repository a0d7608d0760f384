// Gang restart (DESIGN §9): every rank of every pipeline is in one collective group, so the loss of one pod
// (failed, evicted, deleted, node lost) restarts all of them, as JobSet's failure policy does. The restart
// is committed by one status write (status.restarts + 1, condition Restarting, Warning event GangRestart);
// everything after follows from that number: pods of an older attempt are deleted, ranks go Idle (the
// agents reset the clocks) under the new attempt with no token, and once every old pod is gone the phase
// recreates the pods with fresh tokens. Profile and plan are kept. Counted once against backoffLimit.
import { findCondition } from '../api/conditions.ts';
import { JOB_CONDITIONS } from '../api/index.ts';
import { withActions, withCondition, withRequeue, withStatus, type Decision, type JobContext, type PodDelete, type PodInfo, type RankPatch, type Step } from './decision.ts';
import { activeRole, findLosses, nodeLostInMs, type PodLoss } from './failures.ts';
import { failJob } from './finished.ts';

/** The gate: finish a restart in progress, or start one when the gang lost a pod. */
export function gangRestart(ctx: JobContext, d: Decision): Step {
  const { o } = ctx;
  const attempt = d.status.restarts ?? 0;
  // A child of a newer attempt than the job's status: the job cache lags our own status write.
  const ahead = [...o.pods.values()].some((p) => p.attempt > attempt) || [...o.ranks.values()].some((r) => (r.spec.attempt ?? 0) > attempt);
  if (ahead) return { done: true, decision: withRequeue(d, 1000) };
  const stale = [...o.pods.values()].filter((p) => p.attempt < attempt);
  if (stale.length > 0) return { done: true, decision: tearDown(ctx, d, stale, attempt) };

  let out = d;
  if (findCondition(out.status.conditions, JOB_CONDITIONS.restarting)?.status === 'True') {
    const message = `Every pod of restart attempt ${attempt - 1} is gone; recreating the pods for attempt ${attempt}`;
    out = withCondition(ctx, out, JOB_CONDITIONS.restarting, 'False', 'PodsRecreated', message);
    out = withActions(out, { events: [{ type: 'Normal', reason: 'GangRestarted', message }] });
  }
  const role = activeRole(ctx, out.status.phase);
  if (role === undefined) return { done: false, decision: out };
  const { losses, recheckAfterMs } = findLosses(ctx, role, attempt);
  if (recheckAfterMs !== undefined) out = withRequeue(out, recheckAfterMs);
  if (losses.length === 0) return { done: false, decision: out };
  return { done: true, decision: beginRestart(ctx, out, losses, attempt) };
}

/** Records the losses; past backoffLimit fails the job, else commits restart `attempt + 1` (status only). */
function beginRestart(ctx: JobContext, d: Decision, losses: readonly PodLoss[], attempt: number): Decision {
  const first = losses[0]!;
  const recorded = losses.map((l) => ({ name: l.pod, uid: l.uid, reason: l.reason }));
  const failedPods = [...(d.status.failedPods ?? []).filter((f) => !recorded.some((r) => r.uid === f.uid)), ...recorded].slice(-128);
  let out = withStatus(d, { ...d.status, failedPods });
  const what = losses.length === 1 ? first.message : `${first.message} (and ${losses.length - 1} more)`;
  const backoffLimit = ctx.spec.runPolicy.backoffLimit;
  if (attempt >= backoffLimit) {
    return failJob(ctx, out, 'BackoffLimitExceeded', `${first.reason}: ${what}; the job was restarted ${attempt} times and backoffLimit is ${backoffLimit}`);
  }
  const next = attempt + 1;
  out = withStatus(out, { ...out.status, restarts: next, lastRestartTime: ctx.now });
  out = withCondition(ctx, out, JOB_CONDITIONS.restarting, 'True', first.reason, `Restart ${next} of at most ${backoffLimit}: ${what}`);
  const message = `${first.reason}: ${what}; restarting every pod of the job (restart ${next} of at most ${backoffLimit}), profile and plan kept`;
  return withActions(out, { events: [{ type: 'Warning', reason: 'GangRestart', message }] });
}

/** Deletes the pods of older attempts (force on a lost node) and idles every rank under the new attempt. */
function tearDown(ctx: JobContext, d: Decision, stale: readonly PodInfo[], attempt: number): Decision {
  let out = d;
  const podDeletes: PodDelete[] = [];
  for (const pod of stale) {
    const lostInMs = nodeLostInMs(ctx, pod);
    const force = lostInMs !== undefined && lostInMs <= 0;
    if (!pod.deleting || force) podDeletes.push({ name: pod.name, reason: 'GangRestart', ...(force ? { force } : {}) });
    else if (lostInMs !== undefined) out = withRequeue(out, lostInMs);
  }
  // No token: the old pods' connections are closed and cannot bind again; Idle: their clocks are reset.
  const rankPatches: RankPatch[] = [];
  for (const [name, rank] of ctx.o.ranks) {
    const s = rank.spec;
    if (s.mode === 'Idle' && (s.attempt ?? 0) === attempt && s.tokenSha256 === undefined && s.podUid === undefined) continue;
    rankPatches.push({ name, patch: { spec: { mode: 'Idle', attempt, tokenSha256: null, podUid: null } } });
  }
  return withActions(out, { podDeletes, rankPatches });
}
