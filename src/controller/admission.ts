// The gates every pass goes through before a phase runs: the spec is valid (an invalid one fails the job,
// naming the field), the job has been accepted (Pending), it is not suspended, and its active deadline holds.
import { findCondition } from '../api/conditions.ts';
import { JOB_CONDITIONS, validateJob, type JobStatus, type ValidatedJobSpec } from '../api/index.ts';
import { deletePods, idleRanks } from './children.ts';
import { withActions, withCondition, withPhase, withRequeue, withStatus, type DecideContext, type Decision, type JobContext, type Step } from './decision.ts';
import { failJob } from './finished.ts';
import { Lru } from './memo.ts';

/**
 * Validates the spec, immutable fields against what was accepted first (as the CRD's transition rules
 * would). An invalid spec is terminal and names the field: never a retry loop. A new job becomes Pending.
 */
export function admit(ctx: DecideContext, d: Decision): Step & { readonly spec?: ValidatedJobSpec } {
  const job = ctx.o.job;
  const accepted = d.status.accepted;
  const validation = validated(job, accepted);
  if (!validation.ok) {
    const message = validation.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    const rejected = withCondition(ctx, d, JOB_CONDITIONS.invalidSpec, 'True', 'SpecValidationFailed', message);
    return { done: true, decision: failJob(ctx, rejected, 'InvalidSpec', `Rejected the spec: ${message}`) };
  }
  const spec = validation.value;
  let out = d;
  if (accepted === undefined) {
    out = withStatus(out, { ...out.status, accepted: { topology: JSON.stringify(spec.topology), ...(spec.managedBy === undefined ? {} : { managedBy: spec.managedBy }) } });
  }
  if (out.status.phase === undefined) {
    out = withPhase(out, 'Pending', 'Accepted', `Accepted the job: ${spec.topology.stages} stages × ${spec.topology.dataParallel} pipelines`);
    return { done: true, decision: withRequeue(out, 0), spec };
  }
  return { done: false, decision: out, spec };
}

/**
 * Suspension (Kueue admits by clearing it): no pods, clocks released, the activeDeadline clock stopped.
 * Resuming records the transition and restarts that clock.
 */
export function suspendOrResume(ctx: JobContext, d: Decision): Step {
  if (ctx.spec.runPolicy.suspend) {
    let out = withActions(d, { podDeletes: deletePods(ctx.o, 'JobSuspended', false), rankPatches: idleRanks(ctx.o) });
    if (out.status.phase !== 'Suspended') {
      out = withPhase(out, 'Suspended', 'Suspended', 'Suspended the job');
      out = withCondition(ctx, out, JOB_CONDITIONS.suspended, 'True', 'JobSuspended', 'The job is suspended');
      const { startTime: _dropped, ...rest } = out.status;
      out = withStatus(out, rest);
    }
    return { done: true, decision: out };
  }
  let out = d;
  if (findCondition(out.status.conditions, JOB_CONDITIONS.suspended)?.status === 'True') {
    out = withCondition(ctx, out, JOB_CONDITIONS.suspended, 'False', 'JobResumed', 'The job was resumed');
    out = withActions(out, { events: [{ type: 'Normal', reason: 'Resumed', message: 'Resumed the job' }] });
  }
  if (out.status.startTime === undefined) out = withStatus(out, { ...out.status, startTime: ctx.now });
  return { done: false, decision: out };
}

/** Fails a job active longer than activeDeadlineSeconds; otherwise reconciles again when it is due. */
export function enforceDeadline(ctx: JobContext, d: Decision): Step {
  const deadline = ctx.spec.runPolicy.activeDeadlineSeconds;
  if (deadline === undefined || d.status.startTime === undefined) return { done: false, decision: d };
  const dueMs = Date.parse(d.status.startTime) + deadline * 1000;
  if (ctx.o.nowMs >= dueMs) return { done: true, decision: failJob(ctx, d, 'DeadlineExceeded', `The job was active longer than activeDeadlineSeconds (${deadline} s)`) };
  return { done: false, decision: withRequeue(d, dueMs - ctx.o.nowMs) };
}

// One validation per distinct (name, spec, accepted): passes repeat it on an unchanged spec.
const validations = new Lru<string, ReturnType<typeof validateJob>>(4096);

function validated(job: DecideContext['o']['job'], accepted: JobStatus['accepted']): ReturnType<typeof validateJob> {
  return validations.get(JSON.stringify([job.metadata.name, job.spec, accepted ?? null]), () =>
    validateJob(
      job,
      accepted === undefined
        ? undefined
        : {
            metadata: job.metadata,
            spec: {
              ...Object.fromEntries(Object.entries(job.spec).filter(([k]) => k !== 'managedBy')),
              topology: JSON.parse(accepted.topology ?? 'null') ?? job.spec.topology,
              ...(accepted.managedBy === undefined ? {} : { managedBy: accepted.managedBy }),
            },
          },
    ),
  );
}
