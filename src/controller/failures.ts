// Lost pods: a failed pod counts against backoffLimit once (by UID) and is deleted so that its phase
// recreates it; past the limit the job fails. This is where a pod's loss becomes the job's decision.
import { withActions, withStatus, type Decision, type JobContext, type JobEvent, type PodDelete, type Step } from './decision.ts';
import { failJob } from './finished.ts';

/** Records newly failed pods, fails the job past backoffLimit, else deletes the failed pods for recreation. */
export function handleLostPods(ctx: JobContext, d: Decision): Step {
  const failedPods = [...(d.status.failedPods ?? [])];
  const events: JobEvent[] = [];
  for (const pod of ctx.o.pods.values()) {
    if (pod.phase !== 'Failed') continue;
    if (!failedPods.some((f) => f.uid === pod.uid)) {
      failedPods.push({ name: pod.name, uid: pod.uid, reason: pod.reason ?? 'Failed' });
      events.push({ type: 'Warning', reason: 'PodFailed', message: `Pod ${pod.name} failed (${pod.reason ?? 'Failed'})` });
    }
  }
  let out = withActions(d, { events });
  if (failedPods.length > 0) out = withStatus(out, { ...out.status, failedPods: failedPods.slice(-128) });
  const backoffLimit = ctx.spec.runPolicy.backoffLimit;
  if (failedPods.length > backoffLimit) {
    return { done: true, decision: failJob(ctx, out, 'BackoffLimitExceeded', `${failedPods.length} worker pods failed; backoffLimit is ${backoffLimit}`) };
  }
  const podDeletes: PodDelete[] = [];
  for (const pod of ctx.o.pods.values()) if (pod.phase === 'Failed' && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'PodFailed' });
  return { done: false, decision: withActions(out, { podDeletes }) };
}
