// Phase Planning: the stage profile (stored, or copied from spec.profiling.profileRef) becomes the planner's
// inputs; the frontier is solved off the event loop (decide() only asks for it), and the plan for
// maxSlowdown is chosen from it. Running reuses the same inputs and frontier lookups.
import { CONFIG_MAP_KEYS, configMapName, JOB_CONDITIONS, type ValidatedJobSpec } from '../api/index.ts';
import type { PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import { autoUnitTimeSeconds, choosePlan, fastestPlan, frontierToCsv, parseStageProfileCsv, stageProfileToCsv, type Frontier } from '../planner/index.ts';
import {
  fmtSeconds,
  withCondition,
  withPhase,
  withRequeue,
  withStatus,
  type Decision,
  type FrontierState,
  type JobContext,
  type SolveRequest,
  type Step,
} from './decision.ts';
import { failJob } from './finished.ts';
import { Lru, perObject } from './memo.ts';
import { sha256Hex } from './objects.ts';
import { parseProfilingState, profilingCost } from './profiling-rounds.ts';

// Lookups on a frontier are deterministic; memoizing them per frontier keeps decide() cheap on resyncs.
const lookups = new WeakMap<Frontier, Map<number, ReturnType<typeof choosePlan>>>();

/** The frontier's plan for `targetSeconds` (0: the fastest plan). */
export function lookup(frontier: Frontier, targetSeconds: number): ReturnType<typeof choosePlan> {
  let memo = lookups.get(frontier);
  if (memo === undefined) lookups.set(frontier, (memo = new Map()));
  let chosen = memo.get(targetSeconds);
  if (chosen === undefined) {
    chosen = targetSeconds === 0 ? fastestPlan(frontier) : choosePlan(frontier, targetSeconds);
    if (memo.size > 64) memo.clear();
    memo.set(targetSeconds, chosen);
  }
  return chosen;
}

/** Planner inputs of a job from its spec and profile. */
export function plannerInputs(spec: ValidatedJobSpec, profile: StageProfile): { pipeline: PipelineSpec; options: PlannerOptions } {
  const t = spec.topology;
  const pipeline: PipelineSpec = {
    stages: t.stages,
    microbatches: t.microbatches,
    schedule: t.schedule,
    ...(t.virtualStages === undefined ? {} : { virtualStages: t.virtualStages }),
  };
  const options: PlannerOptions = {
    // A profile of other stages cannot size the solve (the solve reports the mismatch itself).
    unitTimeSeconds:
      spec.planning.unitTimeSeconds ??
      (profile.stageCount === pipeline.stages ? autoUnitTimeSeconds(profile, pipeline, { blockingPowerWatts: profile.blockingPowerWatts ?? 0, costModel: spec.planning.costModel }) : 0.001),
    blockingPowerWatts: profile.blockingPowerWatts ?? 0,
    costModel: spec.planning.costModel,
    granularity: spec.planning.granularity,
  };
  return { pipeline, options };
}

/** Keeps only the profiled clocks within the job's GPU bounds. */
function boundProfile(profile: StageProfile, spec: ValidatedJobSpec): StageProfile {
  const min = spec.gpu.minFrequencyMhz ?? 0;
  const max = spec.gpu.maxFrequencyMhz ?? Infinity;
  if (min === 0 && max === Infinity) return profile;
  return { ...profile, measurements: profile.measurements.filter((m) => m.frequencyMhz >= min && m.frequencyMhz <= max) };
}

/**
 * The CSV form has no blocking power: a profile the job measured takes the one its first profiling round
 * measured (profiling.json, else status.profile), so plans and baselines count the power GPUs draw while
 * they wait, as the GPUs' energy counters do.
 */
function withBlockingPower(parsed: ReturnType<typeof parseStageProfileCsv>, ctx: JobContext | undefined): ReturnType<typeof parseStageProfileCsv> {
  if (!parsed.ok || parsed.value.blockingPowerWatts !== undefined || ctx === undefined) return parsed;
  const watts = parseProfilingState(ctx.o.configMap?.[CONFIG_MAP_KEYS.profiling]).blockingPowerWatts ?? ctx.o.job.status?.profile?.blockingPowerWatts;
  return watts === undefined ? parsed : { ok: true, value: { ...parsed.value, blockingPowerWatts: watts } };
}

/**
 * The job's stage profile: the stored one, or profileRef's copied into the job's ConfigMap. Waits for a
 * missing profileRef; fails the job, naming the source, on a profile that is invalid or has other stages.
 */
export function loadProfile(ctx: JobContext, d: Decision, storedCsv: string | undefined): Step & { readonly profile?: StageProfile } {
  const { o, spec, name } = ctx;
  const profileRef = spec.profiling.profileRef;
  let csv = storedCsv;
  let out = d;
  if (csv === undefined && profileRef !== undefined) {
    const key = profileRef.key;
    const text = o.profileRefData?.[key];
    if (text === undefined) {
      if (out.status.phase !== 'Planning') out = withPhase(out, 'Planning', 'WaitingForProfile', `Waiting for ConfigMap ${profileRef.configMapName} key ${key}`);
      out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'False', 'ProfileRefNotFound', `ConfigMap ${profileRef.configMapName} with key ${key} was not found`);
      return { done: true, decision: withRequeue(out, 15_000) };
    }
    csv = text;
  }
  const parsed = withBlockingPower(parsedProfile(csv ?? ''), storedCsv === undefined ? undefined : ctx);
  const field = storedCsv === undefined ? 'spec.profiling.profileRef' : `ConfigMap ${configMapName(name)} ${CONFIG_MAP_KEYS.profile}`;
  if (!parsed.ok) {
    const message = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    out = withCondition(ctx, out, JOB_CONDITIONS.invalidSpec, 'True', 'InvalidProfile', `${field}: ${message}`);
    return { done: true, decision: failJob(ctx, out, 'InvalidSpec', `${field}: the stage profile is invalid: ${message}`) };
  }
  if (parsed.value.stageCount !== spec.topology.stages) {
    const message = `${field}: the profile has ${parsed.value.stageCount} stages but spec.topology.stages is ${spec.topology.stages}`;
    out = withCondition(ctx, out, JOB_CONDITIONS.invalidSpec, 'True', 'ProfileMismatch', message);
    return { done: true, decision: failJob(ctx, out, 'InvalidSpec', message) };
  }
  if (storedCsv === undefined) {
    out = { ...out, configMapData: { [CONFIG_MAP_KEYS.profile]: stageProfileToCsv(parsed.value) } };
    out = withStatus(out, {
      ...out.status,
      profile: {
        source: 'ProfileRef',
        configMapName: configMapName(name),
        measurements: parsed.value.measurements.length,
        ...(parsed.value.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: parsed.value.blockingPowerWatts }),
      },
    });
    out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'True', 'ProfileReused', `Reused the profile of ConfigMap ${profileRef?.configMapName ?? ''}`);
  } else if (out.status.profile === undefined && profileRef === undefined) {
    // The job's own profile was stored but the status write that recorded it failed (a conflict, a
    // restart): record it now, as the profiling pass would have.
    out = withStatus(out, {
      ...out.status,
      profile: {
        source: 'Profiled',
        configMapName: configMapName(name),
        measurements: parsed.value.measurements.length,
        ...(parsed.value.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: parsed.value.blockingPowerWatts }),
        ...profilingCost(parseProfilingState(o.configMap?.[CONFIG_MAP_KEYS.profiling])),
      },
    });
    out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'True', 'ProfileCollected', `Collected ${parsed.value.measurements.length} measurements`);
    if (out.status.phase === 'Profiling') out = withPhase(out, 'Planning', 'ProfileCollected', `Collected the stage profile (${parsed.value.measurements.length} measurements)`);
  }
  return { done: false, decision: out, profile: parsed.value };
}

// Every pass parses the stored profile, derives the planner request (a hash of the whole profile) and,
// once, writes the frontier as CSV: each is computed once per distinct input.
const profiles = new Lru<string, ReturnType<typeof parseStageProfileCsv>>(256);
const parsedProfile = (csv: string): ReturnType<typeof parseStageProfileCsv> => profiles.get(csv, () => parseStageProfileCsv(csv));
const frontierCsv = perObject((f: Frontier) => frontierToCsv(f));
const requests = new Lru<string, SolveRequest>(1024);

/** The planner request for a profile (within the GPU bounds); equal inputs give equal keys. */
export function solveRequest(spec: ValidatedJobSpec, stageProfile: StageProfile, minUnitTimeSeconds = 0): SolveRequest {
  return requests.get(JSON.stringify([spec.topology, spec.planning, spec.gpu, minUnitTimeSeconds, stageProfile]), () => computeSolveRequest(spec, stageProfile, minUnitTimeSeconds));
}

function computeSolveRequest(spec: ValidatedJobSpec, stageProfile: StageProfile, minUnitTimeSeconds: number): SolveRequest {
  const profile = boundProfile(stageProfile, spec);
  const inputs = plannerInputs(spec, profile);
  const pipeline = inputs.pipeline;
  const options = { ...inputs.options, unitTimeSeconds: Math.max(inputs.options.unitTimeSeconds, minUnitTimeSeconds) };
  const maxSlowdown = spec.planning.maxSlowdown;
  const key = sha256Hex(JSON.stringify({ csv: stageProfileToCsv(profile), pipeline, options, maxSlowdown }));
  return { profile, pipeline, options, maxSlowdown, key };
}

/** One pass of phase Planning: wait for the frontier, then choose the plan for maxSlowdown and start Running. */
export function plan(ctx: JobContext, d: Decision, frontier: FrontierState, request: SolveRequest): Decision {
  let out = d;
  if (out.status.phase !== 'Planning') out = withPhase(out, 'Planning', 'PlanningStarted', 'Started planning');
  if (frontier.state !== 'ready') return withCondition(ctx, out, JOB_CONDITIONS.planned, 'False', 'Solving', 'Computing the iteration time–energy frontier');
  const { pipeline, options, maxSlowdown } = request;
  const f = frontier.frontier;
  const chosen = lookup(f, frontier.baseline.timeSeconds * maxSlowdown);
  const savings = 1 - chosen.point.trueEnergyJoules / frontier.baseline.energyJoules;
  const savedPerIteration = (frontier.baseline.energyJoules - chosen.point.trueEnergyJoules) * ctx.spec.topology.dataParallel;
  const profiled = out.status.profile;
  if (profiled?.energyJoules !== undefined && profiled.energyJoules > 0 && savedPerIteration > 0) {
    out = withStatus(out, { ...out.status, profile: { ...profiled, paybackIterations: Math.ceil(profiled.energyJoules / savedPerIteration) } });
  }
  out = withStatus(out, {
    ...out.status,
    plan: {
      generation: 1,
      frontierPoints: f.points.length,
      baselineIterationSeconds: frontier.baseline.timeSeconds,
      baselineIterationEnergyJoules: frontier.baseline.energyJoules,
      plannedIterationSeconds: chosen.point.trueTimeSeconds,
      plannedIterationEnergyJoules: chosen.point.trueEnergyJoules,
      expectedSavingsRatio: savings,
      savings: `${(savings * 100).toFixed(1)}%`,
      lastReplanTime: ctx.now,
    },
  });
  out = {
    ...out,
    configMapData: {
      ...(out.configMapData ?? {}),
      [CONFIG_MAP_KEYS.frontier]: frontierCsv(f),
      [CONFIG_MAP_KEYS.planner]: JSON.stringify({ pipeline, options, maxSlowdown, chosenIndex: chosen.index }),
    },
  };
  out = withCondition(
    ctx,
    out,
    JOB_CONDITIONS.planned,
    'True',
    'PlanChosen',
    `Chose frontier point ${chosen.index} of ${f.points.length}: ${fmtSeconds(chosen.point.trueTimeSeconds)}, ${(savings * 100).toFixed(1)}% less energy than all-max clocks`,
  );
  out = withPhase(out, 'Running', 'Planned', `Planned ${f.points.length} frontier points; expected savings ${(savings * 100).toFixed(1)}% at ${fmtSeconds(chosen.point.trueTimeSeconds)}`);
  return withRequeue(out, 0);
}
