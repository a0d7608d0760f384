// Replanning for stragglers while Running: when the set of stragglers changes (and the cooldown allows),
// the plan generation moves and the other pipelines target the slowest straggler's time on the frontier.
import { JOB_CONDITIONS } from '../api/index.ts';
import { fmtSeconds, withActions, withCondition, withRequeue, withStatus, type Decision, type FrontierState, type JobContext } from './decision.ts';
import { lookup } from './planning.ts';
import { detectStragglers, type StragglerEntry } from './stragglers.ts';

type ReadyFrontier = Extract<FrontierState, { state: 'ready' }>;

/**
 * Detects stragglers against the current plan and, when they changed, returns the decision with the next
 * plan generation (its target, conditions, events); `stragglers` is the set the pipelines now run for.
 */
export function replanForStragglers(ctx: JobContext, d: Decision, frontier: ReadyFrontier, maxSlowdown: number): { readonly decision: Decision; readonly stragglers: readonly StragglerEntry[] } {
  const { o, spec } = ctx;
  const current = d.status.stragglers ?? [];
  if (!spec.straggler.enabled) return { decision: d, stragglers: current };
  const plan = d.status.plan ?? {};
  const planGeneration = plan.generation ?? 1;
  const f = frontier.frontier;
  const baseTarget = frontier.baseline.timeSeconds * maxSlowdown;
  const currentBaseSeconds = lookup(f, Math.max(baseTarget, plan.targetIterationSeconds ?? 0)).point.trueTimeSeconds;
  const fastestSeconds = lookup(f, 0).point.trueTimeSeconds;
  const detection = detectStragglers({
    ranks: o.ranks,
    jobName: ctx.name,
    pipelines: spec.topology.dataParallel,
    stages: spec.topology.stages,
    generation: planGeneration,
    attempt: d.status.restarts ?? 0,
    window: spec.straggler.window,
    threshold: spec.straggler.threshold,
    current,
    expectedSeconds: (p) => (current.some((s) => s.pipeline === p) ? fastestSeconds : currentBaseSeconds),
    now: ctx.now,
  });
  if (!detection.changed) return { decision: d, stragglers: current };
  const cooldownMs = spec.straggler.cooldownSeconds * 1000;
  const lastMs = plan.lastReplanTime === undefined ? 0 : Date.parse(plan.lastReplanTime);
  if (o.nowMs < lastMs + cooldownMs) return { decision: withRequeue(d, lastMs + cooldownMs - o.nowMs), stragglers: current };

  const stragglers = detection.stragglers;
  const slowest = Math.max(0, ...stragglers.map((s) => s.iterationSeconds));
  const nextGeneration = planGeneration + 1;
  const { targetIterationSeconds: _old, ...planRest } = plan;
  let out = withStatus(d, {
    ...d.status,
    stragglers,
    replans: (d.status.replans ?? 0) + 1,
    plan: { ...planRest, generation: nextGeneration, lastReplanTime: ctx.now, ...(stragglers.length > 0 ? { targetIterationSeconds: Math.max(slowest, baseTarget) } : {}) },
  });
  out = { ...out, replanned: true };
  if (stragglers.length > 0) {
    const list = stragglers.map((s) => `pipeline ${s.pipeline} (${s.slowdown.toFixed(2)}×, ${fmtSeconds(s.iterationSeconds)})`).join(', ');
    out = withCondition(ctx, out, JOB_CONDITIONS.stragglerDetected, 'True', 'StragglerDetected', `Stragglers: ${list}`);
    out = withActions(out, {
      events: [
        { type: 'Warning', reason: 'StragglerDetected', message: `Detected stragglers: ${list}` },
        { type: 'Normal', reason: 'Replanned', message: `Replanned (generation ${nextGeneration}): other pipelines target ${fmtSeconds(Math.max(slowest, baseTarget))}` },
      ],
    });
  } else {
    out = withCondition(ctx, out, JOB_CONDITIONS.stragglerDetected, 'False', 'StragglerRecovered', 'Every pipeline keeps its plan');
    out = withActions(out, { events: [{ type: 'Normal', reason: 'StragglerRecovered', message: `Stragglers recovered; restored the plan (generation ${nextGeneration})` }] });
  }
  return { decision: out, stragglers };
}
