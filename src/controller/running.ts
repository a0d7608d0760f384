// Phase Running: every pipeline's worker pods, and their ranks in Run mode with this stage's slice of the
// plan (stragglers run the fastest plan, the others the plan for the current target); the job succeeds
// when every worker has.
import { podName, rankName, type RankSpec } from '../api/index.ts';
import type { FrequencyPlan } from '../api/planner-types.ts';
import { ChildActions, ensurePod, ensureRank, ensureService, rankBase } from './children.ts';
import { withActions, withPhase, withRequeue, type Decision, type FrontierState, type JobContext, type PodDelete, type SolveRequest } from './decision.ts';
import { succeedJob } from './finished.ts';
import { lookup } from './planning.ts';
import { replanForStragglers } from './replanning.ts';
import type { StragglerEntry } from './stragglers.ts';

type ChosenPlan = ReturnType<typeof lookup>;

/** The rank-spec form of one stage of a plan. */
export function rankPlan(plan: FrequencyPlan, stage: number, generation: number, timeSeconds: number): NonNullable<RankSpec['plan']> {
  const stagePlan = plan.stages.find((s) => s.stage === stage);
  const base = { generation, granularity: plan.granularity, modelIterationSeconds: timeSeconds };
  if (stagePlan === undefined) return base;
  if (plan.granularity === 'Stage') {
    return { ...base, frequencyMhz: stagePlan.frequencyMhz ?? stagePlan.computations[0]?.frequencyMhz ?? 0 };
  }
  return {
    ...base,
    computations: stagePlan.computations.map((c) => ({ instruction: c.instruction, microbatch: c.microbatch, chunk: c.chunk, frequencyMhz: c.frequencyMhz })),
  };
}

/** One pass of phase Running. */
export function run(ctx: JobContext, d: Decision, frontier: FrontierState, request: SolveRequest): Decision {
  const { o, spec } = ctx;
  const pipelines = spec.topology.dataParallel;
  let out = d;
  if (out.status.phase !== 'Running') out = withPhase(out, 'Running', 'Running', `Running ${pipelines} pipelines`);
  const planGeneration = out.status.plan?.generation ?? 1;

  let stragglers: readonly StragglerEntry[] = out.status.stragglers ?? [];
  let basePlan: ChosenPlan | undefined;
  let fastest: ChosenPlan | undefined;
  if (frontier.state === 'ready') {
    ({ decision: out, stragglers } = replanForStragglers(ctx, out, frontier, request.maxSlowdown));
    fastest = lookup(frontier.frontier, 0);
    basePlan = lookup(frontier.frontier, Math.max(frontier.baseline.timeSeconds * request.maxSlowdown, out.status.plan?.targetIterationSeconds ?? 0));
  } else {
    // The frontier is re-derived after a restart; ranks keep their plans meanwhile.
    out = withRequeue(out, 1000);
  }
  const generation = out.status.plan?.generation ?? planGeneration;

  const children = new ChildActions();
  for (const c of ensureService(ctx)) children.add({ create: c });
  let succeeded = 0;
  for (let p = 0; p < pipelines; p++) {
    const chosen = stragglers.some((s) => s.pipeline === p) ? fastest : basePlan;
    for (let stage = 0; stage < spec.topology.stages; stage++) {
      const pod = podName(ctx.name, 'worker', p, stage);
      const existing = o.pods.get(pod);
      if (existing?.phase === 'Succeeded') succeeded++;
      const { token, nodeName } = existing?.phase === 'Succeeded' ? { token: existing.token, nodeName: existing.nodeName } : ensurePodInto(children, ctx, p, stage);
      if (chosen === undefined) {
        // Without the frontier only identity fields can be kept right; the plan stays as it is.
        const rank = o.ranks.get(rankName(ctx.name, p, stage));
        if (rank !== undefined && rank.spec.plan !== undefined) {
          children.add(ensureRank(ctx, p, stage, { ...rank.spec, ...rankBase(ctx, p, stage, pod, token, nodeName), mode: 'Run' }, nodeName));
        }
        continue;
      }
      const desired: RankSpec = { ...rankBase(ctx, p, stage, pod, token, nodeName), mode: 'Run', plan: rankPlan(chosen.plan, stage, generation, chosen.point.trueTimeSeconds) };
      children.add(ensureRank(ctx, p, stage, desired, nodeName));
    }
  }
  // Profiling pods left over (a restart between storing the profile and deleting them).
  const podDeletes: PodDelete[] = [];
  for (const pod of o.pods.values()) if (pod.role === 'profiler' && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'ProfilingComplete' });
  out = withActions(out, { creates: children.creates, rankPatches: children.rankPatches, podDeletes });

  if (succeeded === pipelines * spec.topology.stages) return succeedJob(ctx, out, succeeded, spec.runPolicy.ttlSecondsAfterFinished);
  return out;
}

function ensurePodInto(children: ChildActions, ctx: JobContext, pipeline: number, stage: number): { token: string | undefined; nodeName: string | undefined } {
  const ensured = ensurePod(ctx, 'worker', pipeline, stage);
  children.add(ensured);
  return { token: ensured.token, nodeName: ensured.nodeName };
}
