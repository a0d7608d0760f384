// The pure heart of reconcile: observed state of one job → desired children, status, events. Level-
// triggered: everything is derived from what exists now (ranks' reports, the stored profile, the status),
// so a restarted controller continues any phase without re-profiling and without duplicates.
import { CONFIG_MAP_KEYS, type JobStatus } from '../api/index.ts';
import { admit, enforceDeadline, suspendOrResume } from './admission.ts';
import { jsonEqual } from './json-equal.ts';
import { initialDecision, iso, type Decision, type JobContext, type Observed, type Step } from './decision.ts';
import { failJob, isFinished, keepFinished } from './finished.ts';
import { loadProfile, plan, solveRequest } from './planning.ts';
import { profile } from './profiling.ts';
import { gangRestart } from './restarts.ts';
import { run } from './running.ts';

/** The gates a valid, admitted job passes before its phase runs, in order. */
const GATES: readonly ((ctx: JobContext, d: Decision) => Step)[] = [suspendOrResume, enforceDeadline, gangRestart];

/** Decides what reconcile must do for one job. Pure: no I/O, no clock, no randomness beyond `mintToken`. */
export function decide(o: Observed): Decision {
  const generation = o.job.metadata.generation ?? 0;
  const base = { o, name: o.job.metadata.name, generation, now: iso(o.nowMs) };
  let d = initialDecision({ ...(o.job.status ?? {}), observedGeneration: generation });
  if (isFinished(d.status)) return keepFinished(base, d);

  const admitted = admit(base, d);
  if (admitted.done || admitted.spec === undefined) return admitted.decision;
  const ctx: JobContext = { ...base, spec: admitted.spec };
  d = admitted.decision;
  for (const gate of GATES) {
    const step = gate(ctx, d);
    if (step.done) return step.decision;
    d = step.decision;
  }

  // Where the job stands follows from what is stored: a plan → Running; a profile → Planning; else Profiling.
  const storedProfileCsv = o.configMap?.[CONFIG_MAP_KEYS.profile];
  const hasPlan = (d.status.plan?.generation ?? 0) >= 1;
  if (!hasPlan && storedProfileCsv === undefined && ctx.spec.profiling.profileRef === undefined) return profile(ctx, d);

  const loaded = loadProfile(ctx, d, storedProfileCsv);
  if (loaded.done || loaded.profile === undefined) return loaded.decision;
  const request = solveRequest(ctx.spec, loaded.profile);
  const frontier = o.frontierOf(request.key);
  d = frontier.state === 'absent' ? { ...loaded.decision, solve: request } : loaded.decision;
  if (frontier.state === 'failed') return failJob(ctx, d, 'PlanningFailed', `The planner failed: ${frontier.message}`);
  return hasPlan ? run(ctx, d, frontier, request) : plan(ctx, d, frontier, request);
}

/** Whether the status must be written (any field differs; the order of keys does not count). */
export function statusChanged(before: JobStatus | undefined, after: JobStatus): boolean {
  return !jsonEqual(before ?? {}, after);
}
