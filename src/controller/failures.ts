// Lost pods: which pods of the current restart attempt the job has lost, and why. A pod is lost when it
// failed, was evicted, is being deleted by someone else, is gone (its rank recorded its UID once it was
// scheduled, or the controller saw it deleted after it was scheduled), or sits on a node NotReady for
// longer than the grace. Pure: decide() acts on the answer.
import { CONFIG_MAP_KEYS, podName, rankName, type PodRole } from '../api/index.ts';
import type { JobContext, PodInfo } from './decision.ts';

/** Default of the controller's --node-lost-grace (ms): a node NotReady this long has lost its pods. */
export const DEFAULT_NODE_LOST_GRACE_MS = 5 * 60_000;

export type LossReason = 'PodFailed' | 'PodEvicted' | 'PodDeleted' | 'NodeLost';

export interface PodLoss {
  readonly pod: string;
  /** Empty when the pod is gone and the cache no longer knows it (the rank's spec.podUid then). */
  readonly uid: string;
  readonly reason: LossReason;
  readonly message: string;
}

/** The pods that form the gang in the job's current phase: workers while Running, profiling pods while Profiling. */
export function activeRole(ctx: JobContext, phase: string | undefined): PodRole | undefined {
  if (phase === 'Running') return 'worker';
  // A profile stored by a pass whose status write then conflicted: its profiling pods were deleted on purpose.
  if (phase === 'Profiling' && ctx.o.configMap?.[CONFIG_MAP_KEYS.profile] === undefined) return 'profiler';
  return undefined;
}

/** Whether a pod's node is NotReady, and since when (ms); undefined when it is Ready or unknown. */
function notReadySinceMs(ctx: JobContext, pod: PodInfo): number | undefined {
  if (pod.nodeName === undefined) return undefined;
  const node = ctx.o.nodes?.get(pod.nodeName);
  if (node === undefined || node.ready) return undefined;
  return node.sinceMs ?? ctx.o.nowMs;
}

function lossOf(ctx: JobContext, pod: PodInfo, graceMs: number): PodLoss | { readonly dueMs: number } | undefined {
  const own = pod.reason === undefined ? '' : ` (${pod.reason})`;
  if (pod.phase === 'Succeeded') return undefined;
  if (pod.reason === 'Evicted') return { pod: pod.name, uid: pod.uid, reason: 'PodEvicted', message: `pod ${pod.name} was evicted` };
  if (pod.phase === 'Failed') return { pod: pod.name, uid: pod.uid, reason: 'PodFailed', message: `pod ${pod.name} failed${own}` };
  if (pod.deleting) return { pod: pod.name, uid: pod.uid, reason: 'PodDeleted', message: `pod ${pod.name} is being deleted` };
  const since = graceMs > 0 ? notReadySinceMs(ctx, pod) : undefined;
  if (since === undefined) return undefined;
  const dueMs = since + graceMs;
  if (ctx.o.nowMs < dueMs) return { dueMs };
  return { pod: pod.name, uid: pod.uid, reason: 'NodeLost', message: `node ${pod.nodeName} of pod ${pod.name} has been NotReady for ${Math.round((ctx.o.nowMs - since) / 1000)} s` };
}

/**
 * The losses among the pods of `role` and `attempt`, in pipeline and stage order, and when to look again
 * for a pod whose node is NotReady but still within the grace.
 */
export function findLosses(ctx: JobContext, role: PodRole, attempt: number): { readonly losses: readonly PodLoss[]; readonly recheckAfterMs: number | undefined } {
  const { o, spec, name } = ctx;
  const graceMs = o.nodeLostGraceMs ?? DEFAULT_NODE_LOST_GRACE_MS;
  const pipelines = role === 'worker' ? spec.topology.dataParallel : 1;
  const losses: PodLoss[] = [];
  let recheckAfterMs: number | undefined;
  for (let p = 0; p < pipelines; p++) {
    for (let stage = 0; stage < spec.topology.stages; stage++) {
      const podKey = podName(name, role, p, stage);
      const pod = o.pods.get(podKey);
      // Gone: the rank of this attempt recorded the UID of a scheduled pod that the cache no longer holds.
      const rank = o.ranks.get(rankName(name, p, stage));
      const recorded = rank?.spec.podUid;
      const tracked = rank !== undefined && recorded !== undefined && rank.spec.podName === podKey && (rank.spec.attempt ?? 0) === attempt && rank.spec.mode !== 'Idle';
      if (tracked && (pod === undefined || pod.uid !== recorded)) {
        losses.push({ pod: podKey, uid: recorded, reason: 'PodDeleted', message: `pod ${podKey} was deleted` });
        continue;
      }
      // Gone before its rank recorded its UID: the controller saw this attempt's scheduled pod deleted.
      const vanished = o.vanishedPods?.get(podKey);
      if (vanished !== undefined && vanished.attempt === attempt && (pod === undefined || pod.uid !== vanished.uid)) {
        losses.push({ pod: podKey, uid: vanished.uid, reason: 'PodDeleted', message: `pod ${podKey} was deleted` });
        continue;
      }
      if (pod === undefined || pod.attempt !== attempt) continue;
      const loss = lossOf(ctx, pod, graceMs);
      if (loss !== undefined && 'dueMs' in loss) recheckAfterMs = Math.min(recheckAfterMs ?? Infinity, loss.dueMs - o.nowMs);
      else if (loss !== undefined) losses.push(loss);
    }
  }
  return { losses, recheckAfterMs };
}

/**
 * For a pod on a NotReady node: ms until the node counts as lost (≤ 0: lost now, its kubelet cannot confirm
 * a graceful deletion). Undefined when the node is Ready, unknown, or the grace is disabled.
 */
export function nodeLostInMs(ctx: JobContext, pod: PodInfo): number | undefined {
  const graceMs = ctx.o.nodeLostGraceMs ?? DEFAULT_NODE_LOST_GRACE_MS;
  if (graceMs <= 0) return undefined;
  const since = notReadySinceMs(ctx, pod);
  return since === undefined ? undefined : since + graceMs - ctx.o.nowMs;
}
