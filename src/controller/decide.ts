// The pure heart of reconcile: observed state of one job → desired children, status, events. Level-
// triggered: everything is derived from what exists now (ranks' reports, the stored profile, the status),
// so a restarted controller continues any phase without re-profiling and without duplicates.
import { validateJob, type Condition, type JobPhase, type JobSpec, type JobStatus, type PerseusRank, type PerseusTrainingJob, type RankSpec } from '../api/index.ts';
import type { FrequencyPlan, PipelineSpec, PlannerOptions, ProfileMeasurement, StageProfile } from '../api/planner-types.ts';
import type { Frontier } from '../planner/index.ts';
import { choosePlan, fastestPlan, frontierToCsv, parseStageProfileCsv, stageProfileToCsv } from '../planner/index.ts';
import type { KubeObject } from '../kube/client.ts';
import { findCondition, setCondition } from '../api/conditions.ts';
import { JOB_CONDITIONS } from './conditions.ts';
import { buildPod, buildRank, buildService, configMapName, LABELS, podName, sha256Hex, type PodRole } from './objects.ts';
import { detectStragglers, type StragglerEntry } from './stragglers.ts';

/** What reconcile needs to know about a pod. */
export interface PodInfo {
  readonly name: string;
  readonly uid: string;
  readonly role: PodRole;
  readonly pipeline: number;
  readonly stage: number;
  readonly phase: string;
  readonly nodeName?: string;
  readonly token?: string;
  readonly deleting: boolean;
  readonly reason?: string;
}

export type FrontierState =
  | { readonly state: 'absent' }
  | { readonly state: 'solving' }
  | { readonly state: 'failed'; readonly message: string }
  | { readonly state: 'ready'; readonly frontier: Frontier; readonly baseline: { readonly timeSeconds: number; readonly energyJoules: number } };

export interface Observed {
  readonly job: PerseusTrainingJob;
  readonly ranks: ReadonlyMap<string, PerseusRank>;
  readonly pods: ReadonlyMap<string, PodInfo>;
  readonly serviceExists: boolean;
  /** Data of ConfigMap <job>-perseus, when it exists. */
  readonly configMap: Readonly<Record<string, string>> | undefined;
  /** spec.profiling.profileRef's ConfigMap data; undefined when not found (or not referenced). */
  readonly profileRefData: Readonly<Record<string, string>> | undefined;
  /** The planner's state for the inputs with this key (see SolveRequest.key). */
  readonly frontierOf: (key: string) => FrontierState;
  readonly nowMs: number;
  /** A fresh random token for a pod about to be created (injected for determinism). */
  readonly mintToken: (podName: string) => string;
}

export interface SolveRequest {
  readonly profile: StageProfile;
  readonly pipeline: PipelineSpec;
  readonly options: PlannerOptions;
  /** The base plan's allowed slowdown over the all-max baseline (a worker-solved frontier fits that target). */
  readonly maxSlowdown: number;
  /** Identifies the inputs: equal keys give equal frontiers (the planner is deterministic). */
  readonly key: string;
}

export interface JobEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface Decision {
  /** The complete desired status (written when it differs). */
  readonly status: JobStatus;
  /** Objects to create when absent (AlreadyExists is success), in order. */
  readonly creates: readonly { readonly kind: 'Pod' | 'Service' | 'PerseusRank' | 'ConfigMap'; readonly object: KubeObject }[];
  /** Merge patches of existing ranks (spec fields and labels). */
  readonly rankPatches: readonly { readonly name: string; readonly patch: Record<string, unknown> }[];
  /** Keys to merge into ConfigMap <job>-perseus (which `creates` makes when absent). */
  readonly configMapData: Readonly<Record<string, string>> | undefined;
  readonly podDeletes: readonly { readonly name: string; readonly reason: string }[];
  readonly deleteJob: boolean;
  /** Ask the planner for this frontier (off the event loop); reconcile again when it is ready. */
  readonly solve: SolveRequest | undefined;
  readonly events: readonly JobEvent[];
  readonly requeueAfterMs: number | undefined;
  /** Set when the plan generation moved for stragglers (metrics). */
  readonly replanned: boolean;
}

const TERMINAL: readonly JobPhase[] = ['Succeeded', 'Failed'];

// Lookups on a frontier are deterministic; memoizing them per frontier keeps decide() cheap on resyncs.
const lookups = new WeakMap<Frontier, Map<number, ReturnType<typeof choosePlan>>>();
function lookup(frontier: Frontier, targetSeconds: number): ReturnType<typeof choosePlan> {
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

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function fmtSeconds(s: number): string {
  return `${s.toFixed(3)} s`;
}

/** Planner inputs of a job from its spec and profile. */
export function plannerInputs(spec: JobSpec, profile: StageProfile): { pipeline: PipelineSpec; options: PlannerOptions } {
  const t = spec.topology;
  const pipeline: PipelineSpec = {
    stages: t.stages,
    microbatches: t.microbatches,
    schedule: t.schedule ?? '1F1B',
    ...(t.virtualStages === undefined ? {} : { virtualStages: t.virtualStages }),
  };
  const options: PlannerOptions = {
    unitTimeSeconds: spec.planning?.unitTimeSeconds ?? 0.001,
    blockingPowerWatts: profile.blockingPowerWatts ?? 0,
    costModel: spec.planning?.costModel ?? 'exact',
    granularity: spec.planning?.granularity ?? 'Instruction',
  };
  return { pipeline, options };
}

/** Keeps only the profiled clocks within the job's GPU bounds. */
function boundProfile(profile: StageProfile, spec: JobSpec): StageProfile {
  const min = spec.gpu?.minFrequencyMhz ?? 0;
  const max = spec.gpu?.maxFrequencyMhz ?? Infinity;
  if (min === 0 && max === Infinity) return profile;
  return { ...profile, measurements: profile.measurements.filter((m) => m.frequencyMhz >= min && m.frequencyMhz <= max) };
}

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

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Decides what reconcile must do for one job. Pure: no I/O, no clock, no randomness beyond `mintToken`. */
export function decide(o: Observed): Decision {
  const job = o.job;
  const name = job.metadata.name;
  const generation = job.metadata.generation ?? 0;
  const now = iso(o.nowMs);
  const prior = job.status ?? {};
  let status: JobStatus = { ...prior, observedGeneration: generation };
  const creates: { kind: 'Pod' | 'Service' | 'PerseusRank' | 'ConfigMap'; object: KubeObject }[] = [];
  const rankPatches: { name: string; patch: Record<string, unknown> }[] = [];
  const podDeletes: { name: string; reason: string }[] = [];
  const events: JobEvent[] = [];
  let configMapData: Record<string, string> | undefined;
  let solve: SolveRequest | undefined;
  let requeueAfterMs: number | undefined;
  let deleteJob = false;
  let replanned = false;

  const requeue = (ms: number): void => {
    requeueAfterMs = requeueAfterMs === undefined ? ms : Math.min(requeueAfterMs, ms);
  };
  const condition = (type: string, s: 'True' | 'False', reason: string, message: string): void => {
    status = { ...status, conditions: setCondition(status.conditions, type, s, reason, message, now, generation) };
  };
  const setPhase = (phase: JobPhase, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
    if (status.phase !== phase) events.push({ type, reason, message });
    status = { ...status, phase };
  };
  const result = (): Decision => ({
    status,
    creates,
    rankPatches,
    configMapData,
    podDeletes,
    deleteJob,
    solve,
    events,
    requeueAfterMs,
    replanned,
  });

  const idleRanks = (): void => {
    for (const [rankName, rank] of o.ranks) {
      if (rank.spec.mode !== 'Idle') rankPatches.push({ name: rankName, patch: { spec: { mode: 'Idle' } } });
    }
  };
  const deletePods = (reason: string, onlyActive: boolean): void => {
    for (const pod of o.pods.values()) {
      if (pod.deleting) continue;
      if (onlyActive && (pod.phase === 'Succeeded' || pod.phase === 'Failed')) continue;
      podDeletes.push({ name: pod.name, reason });
    }
  };
  const fail = (reason: string, message: string): Decision => {
    setPhase('Failed', reason, message, 'Warning');
    condition(JOB_CONDITIONS.failed, 'True', reason, message);
    status = { ...status, completionTime: status.completionTime ?? now };
    deletePods(reason, true);
    idleRanks();
    return result();
  };

  // Terminal phases: keep clocks released and pods gone; collect after ttlSecondsAfterFinished.
  if (status.phase !== undefined && TERMINAL.includes(status.phase)) {
    idleRanks();
    if (status.phase === 'Failed') deletePods('JobFailed', true);
    const ttl = job.spec.runPolicy?.ttlSecondsAfterFinished;
    if (ttl !== undefined && status.completionTime !== undefined) {
      const dueMs = Date.parse(status.completionTime) + ttl * 1000;
      if (o.nowMs >= dueMs) deleteJob = true;
      else requeue(dueMs - o.nowMs);
    }
    return result();
  }

  // An invalid spec is terminal and names the field; never a retry loop.
  // Immutable fields are checked against what was accepted first, as the CRD's transition rules would.
  const accepted = status.accepted;
  const validation = validateJob(
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
  );
  if (!validation.ok) {
    const message = validation.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    condition(JOB_CONDITIONS.invalidSpec, 'True', 'SpecValidationFailed', message);
    return fail('InvalidSpec', `Rejected the spec: ${message}`);
  }
  const spec = validation.value;
  const topology = spec.topology;
  const pipelines = topology.dataParallel ?? 1;
  const stages = topology.stages;

  if (accepted === undefined) {
    status = { ...status, accepted: { topology: JSON.stringify(topology), ...(spec.managedBy === undefined ? {} : { managedBy: spec.managedBy }) } };
  }
  if (status.phase === undefined) {
    setPhase('Pending', 'Accepted', `Accepted the job: ${stages} stages × ${pipelines} pipelines`);
    requeue(0);
    return result();
  }

  // Suspension (Kueue admits by clearing it): no pods, clocks released, activeDeadline clock stopped.
  if (spec.runPolicy?.suspend === true) {
    deletePods('JobSuspended', false);
    idleRanks();
    if (status.phase !== 'Suspended') {
      setPhase('Suspended', 'Suspended', 'Suspended the job');
      condition(JOB_CONDITIONS.suspended, 'True', 'JobSuspended', 'The job is suspended');
      const { startTime: _dropped, ...rest } = status;
      status = rest;
    }
    return result();
  }
  if (findCondition(status.conditions, JOB_CONDITIONS.suspended)?.status === 'True') {
    condition(JOB_CONDITIONS.suspended, 'False', 'JobResumed', 'The job was resumed');
    events.push({ type: 'Normal', reason: 'Resumed', message: 'Resumed the job' });
  }
  if (status.startTime === undefined) status = { ...status, startTime: now };

  const deadline = spec.runPolicy?.activeDeadlineSeconds;
  if (deadline !== undefined && status.startTime !== undefined) {
    const dueMs = Date.parse(status.startTime) + deadline * 1000;
    if (o.nowMs >= dueMs) return fail('DeadlineExceeded', `The job was active longer than activeDeadlineSeconds (${deadline} s)`);
    requeue(dueMs - o.nowMs);
  }

  // Failed pods count against backoffLimit once each (by UID); they are deleted and recreated.
  const failedPods = [...(status.failedPods ?? [])];
  for (const pod of o.pods.values()) {
    if (pod.phase !== 'Failed') continue;
    if (!failedPods.some((f) => f.uid === pod.uid)) {
      failedPods.push({ name: pod.name, uid: pod.uid, reason: pod.reason ?? 'Failed' });
      events.push({ type: 'Warning', reason: 'PodFailed', message: `Pod ${pod.name} failed (${pod.reason ?? 'Failed'})` });
    }
  }
  if (failedPods.length > 0) status = { ...status, failedPods: failedPods.slice(-128) };
  const backoffLimit = spec.runPolicy?.backoffLimit ?? 3;
  if (failedPods.length > backoffLimit) {
    return fail('BackoffLimitExceeded', `${failedPods.length} worker pods failed; backoffLimit is ${backoffLimit}`);
  }
  for (const pod of o.pods.values()) if (pod.phase === 'Failed' && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'PodFailed' });

  const ensureService = (): void => {
    if (!o.serviceExists) creates.push({ kind: 'Service', object: buildService(job) });
  };

  /** Creates the pod when absent; returns the token the rank must carry (undefined while the pod is going away). */
  const ensurePod = (role: PodRole, pipeline: number, stage: number): { token: string | undefined; nodeName: string | undefined } => {
    const pod = o.pods.get(podName(name, role, pipeline, stage));
    if (pod !== undefined) return { token: pod.deleting || pod.phase === 'Failed' ? undefined : pod.token, nodeName: pod.nodeName };
    const token = o.mintToken(podName(name, role, pipeline, stage));
    creates.push({ kind: 'Pod', object: buildPod(job, spec, role, pipeline, stage, token) });
    return { token, nodeName: undefined };
  };

  /** Creates or patches a rank to `desired` (spec fields compared one by one). */
  const ensureRank = (pipeline: number, stage: number, desired: RankSpec, nodeName: string | undefined): void => {
    const rankName = `${name}-p${pipeline}-s${stage}`;
    const rank = o.ranks.get(rankName);
    if (rank === undefined) {
      creates.push({ kind: 'PerseusRank', object: buildRank(job, rankName, desired, nodeName) });
      return;
    }
    const specPatch: Record<string, unknown> = {};
    const current = rank.spec as unknown as Record<string, unknown>;
    const want = desired as unknown as Record<string, unknown>;
    for (const key of new Set([...Object.keys(current), ...Object.keys(want)])) {
      if (key === 'nodeName' && want[key] === undefined) continue;
      if (key === 'tokenSha256' && want[key] === undefined) continue;
      if (!sameJson(current[key], want[key])) specPatch[key] = want[key] ?? null;
    }
    const patch: Record<string, unknown> = {};
    if (Object.keys(specPatch).length > 0) patch['spec'] = specPatch;
    if (nodeName !== undefined && rank.metadata.labels?.[LABELS.node] !== nodeName) patch['metadata'] = { labels: { [LABELS.node]: nodeName } };
    if (Object.keys(patch).length > 0) rankPatches.push({ name: rankName, patch });
  };

  const rankBase = (pipeline: number, stage: number, pod: string, token: string | undefined, nodeName: string | undefined) => ({
    jobName: name,
    pipeline,
    stage,
    podName: pod,
    gpusPerRank: topology.tensorParallel ?? 1,
    ...(nodeName === undefined ? {} : { nodeName }),
    ...(token === undefined ? {} : { tokenSha256: sha256Hex(token) }),
  });

  // Where the job stands follows from what is stored: a plan → Running; a profile → Planning; else Profiling.
  const storedProfileCsv = o.configMap?.['profile.csv'];
  const hasPlan = (status.plan?.generation ?? 0) >= 1;
  const profileRef = spec.profiling?.profileRef;

  if (!hasPlan && storedProfileCsv === undefined && profileRef === undefined) {
    // ---- Profiling: one pipeline's pods, its ranks in Profile mode with the sweep.
    if (status.phase !== 'Profiling') {
      setPhase('Profiling', 'ProfilingStarted', `Started profiling pipeline 0 (${stages} ranks)`);
      status = { ...status, profilingStartTime: now };
    }
    const timeout = spec.profiling?.timeoutSeconds ?? 3600;
    const startedMs = Date.parse(status.profilingStartTime ?? now);
    if (o.nowMs >= startedMs + timeout * 1000) return fail('ProfilingTimeout', `Profiling did not finish within ${timeout} s`);
    requeue(startedMs + timeout * 1000 - o.nowMs);
    ensureService();
    const p = spec.profiling ?? {};
    const sweep: NonNullable<RankSpec['profile']> = {
      warmupIterations: p.warmupIterations ?? 2,
      iterationsPerClock: p.iterationsPerClock ?? 5,
      clockStrideMhz: p.clockStrideMhz ?? 30,
      earlyStop: p.earlyStop ?? true,
      ...(p.frequenciesMhz === undefined ? {} : { frequenciesMhz: p.frequenciesMhz }),
      ...(spec.gpu?.minFrequencyMhz === undefined ? {} : { minFrequencyMhz: spec.gpu.minFrequencyMhz }),
      ...(spec.gpu?.maxFrequencyMhz === undefined ? {} : { maxFrequencyMhz: spec.gpu.maxFrequencyMhz }),
    };
    const measurements: ProfileMeasurement[] = [];
    const blocking: number[] = [];
    let complete = 0;
    for (let stage = 0; stage < stages; stage++) {
      const pod = podName(name, 'profiler', 0, stage);
      const { token, nodeName } = ensurePod('profiler', 0, stage);
      ensureRank(0, stage, { ...rankBase(0, stage, pod, token, nodeName), mode: 'Profile', profile: sweep }, nodeName);
      const rank = o.ranks.get(`${name}-p0-s${stage}`);
      if (rank === undefined || rank.spec.mode !== 'Profile' || rank.spec.podName !== pod) continue;
      const profiled = findCondition(rank.status?.conditions, 'Profiled');
      if (profiled?.status === 'False' && profiled.reason !== 'InProgress') {
        return fail('ProfilingFailed', `Rank ${rank.metadata.name} failed to profile: ${profiled.message}`);
      }
      const rows = (rank.status?.stageProfile ?? []).filter((m) => m.stage === stage);
      if (profiled?.status === 'True' && rows.length > 0) {
        complete++;
        measurements.push(...rows);
        if (rank.status?.blockingPowerWatts !== undefined) blocking.push(rank.status.blockingPowerWatts);
      }
    }
    condition(JOB_CONDITIONS.profiled, 'False', 'Profiling', `${complete} of ${stages} ranks reported their stage profile`);
    if (complete < stages) return result();
    const profile: StageProfile = {
      stageCount: stages,
      measurements,
      ...(blocking.length === 0 ? {} : { blockingPowerWatts: blocking.reduce((a, b) => a + b, 0) / blocking.length }),
    };
    configMapData = { 'profile.csv': stageProfileToCsv(profile) };
    status = {
      ...status,
      profile: {
        source: 'Profiled',
        configMapName: configMapName(name),
        measurements: measurements.length,
        ...(profile.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: profile.blockingPowerWatts }),
      },
    };
    condition(JOB_CONDITIONS.profiled, 'True', 'ProfileCollected', `Collected ${measurements.length} measurements from ${stages} ranks`);
    // The profiling pods are done; the profile is stored, so a restart resumes in Planning.
    for (let stage = 0; stage < stages; stage++) {
      const pod = o.pods.get(podName(name, 'profiler', 0, stage));
      if (pod !== undefined && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'ProfilingComplete' });
    }
    creates.splice(0, creates.length, ...creates.filter((c) => c.kind !== 'Pod'));
    setPhase('Planning', 'ProfileCollected', `Collected the stage profile (${measurements.length} measurements)`);
    requeue(0);
    return result();
  }

  // ---- A profile exists (stored, or to be copied from profileRef).
  let profileCsv = storedProfileCsv;
  if (profileCsv === undefined && profileRef !== undefined) {
    const key = profileRef.key ?? 'profile.csv';
    const text = o.profileRefData?.[key];
    if (text === undefined) {
      if (status.phase !== 'Planning') setPhase('Planning', 'WaitingForProfile', `Waiting for ConfigMap ${profileRef.configMapName} key ${key}`);
      condition(JOB_CONDITIONS.profiled, 'False', 'ProfileRefNotFound', `ConfigMap ${profileRef.configMapName} with key ${key} was not found`);
      requeue(15_000);
      return result();
    }
    profileCsv = text;
  }
  const parsed = parseStageProfileCsv(profileCsv ?? '');
  const field = storedProfileCsv === undefined ? 'spec.profiling.profileRef' : `ConfigMap ${configMapName(name)} profile.csv`;
  if (!parsed.ok) {
    const message = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    condition(JOB_CONDITIONS.invalidSpec, 'True', 'InvalidProfile', `${field}: ${message}`);
    return fail('InvalidSpec', `${field}: the stage profile is invalid: ${message}`);
  }
  if (parsed.value.stageCount !== stages) {
    const message = `${field}: the profile has ${parsed.value.stageCount} stages but spec.topology.stages is ${stages}`;
    condition(JOB_CONDITIONS.invalidSpec, 'True', 'ProfileMismatch', message);
    return fail('InvalidSpec', message);
  }
  if (storedProfileCsv === undefined) {
    configMapData = { 'profile.csv': stageProfileToCsv(parsed.value) };
    status = {
      ...status,
      profile: {
        source: 'ProfileRef',
        configMapName: configMapName(name),
        measurements: parsed.value.measurements.length,
        ...(parsed.value.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: parsed.value.blockingPowerWatts }),
      },
    };
    condition(JOB_CONDITIONS.profiled, 'True', 'ProfileReused', `Reused the profile of ConfigMap ${profileRef?.configMapName ?? ''}`);
  }
  const profile = boundProfile(parsed.value, spec);
  const { pipeline, options } = plannerInputs(spec, profile);
  const maxSlowdown = spec.planning?.maxSlowdown ?? 1;
  const key = sha256Hex(JSON.stringify({ csv: stageProfileToCsv(profile), pipeline, options, maxSlowdown }));
  const frontier = o.frontierOf(key);
  if (frontier.state === 'absent') solve = { profile, pipeline, options, maxSlowdown, key };
  if (frontier.state === 'failed') return fail('PlanningFailed', `The planner failed: ${frontier.message}`);

  if (!hasPlan) {
    // ---- Planning: solve the frontier, choose the plan for maxSlowdown.
    if (status.phase !== 'Planning') setPhase('Planning', 'PlanningStarted', 'Started planning');
    if (frontier.state !== 'ready') {
      condition(JOB_CONDITIONS.planned, 'False', 'Solving', 'Computing the iteration time–energy frontier');
      return result();
    }
    const f = frontier.frontier;
    const target = frontier.baseline.timeSeconds * maxSlowdown;
    const chosen = lookup(f, target);
    const savings = 1 - chosen.point.trueEnergyJoules / frontier.baseline.energyJoules;
    status = {
      ...status,
      plan: {
        generation: 1,
        frontierPoints: f.points.length,
        baselineIterationSeconds: frontier.baseline.timeSeconds,
        baselineIterationEnergyJoules: frontier.baseline.energyJoules,
        plannedIterationSeconds: chosen.point.trueTimeSeconds,
        plannedIterationEnergyJoules: chosen.point.trueEnergyJoules,
        expectedSavingsRatio: savings,
        savings: `${(savings * 100).toFixed(1)}%`,
        lastReplanTime: now,
      },
    };
    configMapData = {
      ...(configMapData ?? {}),
      'frontier.csv': frontierToCsv(f),
      'planner.json': JSON.stringify({ pipeline, options, maxSlowdown: spec.planning?.maxSlowdown ?? 1, chosenIndex: chosen.index }),
    };
    condition(
      JOB_CONDITIONS.planned,
      'True',
      'PlanChosen',
      `Chose frontier point ${chosen.index} of ${f.points.length}: ${fmtSeconds(chosen.point.trueTimeSeconds)}, ${(savings * 100).toFixed(1)}% less energy than all-max clocks`,
    );
    setPhase('Running', 'Planned', `Planned ${f.points.length} frontier points; expected savings ${(savings * 100).toFixed(1)}% at ${fmtSeconds(chosen.point.trueTimeSeconds)}`);
    requeue(0);
    return result();
  }

  // ---- Running: every pipeline's pods and ranks in Run mode with its plan; stragglers; completion.
  if (status.phase !== 'Running') setPhase('Running', 'Running', `Running ${pipelines} pipelines`);
  ensureService();
  const plan = status.plan ?? {};
  const planGeneration = plan.generation ?? 1;
  let stragglers: readonly StragglerEntry[] = status.stragglers ?? [];

  let basePlan: ReturnType<typeof choosePlan> | undefined;
  let fastest: ReturnType<typeof choosePlan> | undefined;
  if (frontier.state === 'ready') {
    const f = frontier.frontier;
    fastest = lookup(f, 0);
    const baseTarget = frontier.baseline.timeSeconds * maxSlowdown;
    const stragglerCfg = spec.straggler ?? {};
    const currentBaseSeconds = lookup(f, Math.max(baseTarget, plan.targetIterationSeconds ?? 0)).point.trueTimeSeconds;
    const fastestSeconds = fastest.point.trueTimeSeconds;
    if (stragglerCfg.enabled !== false) {
      const detection = detectStragglers({
        ranks: o.ranks,
        jobName: name,
        pipelines,
        stages,
        generation: planGeneration,
        window: stragglerCfg.window ?? 8,
        threshold: stragglerCfg.threshold ?? 0.05,
        current: stragglers,
        expectedSeconds: (p) => (stragglers.some((s) => s.pipeline === p) ? fastestSeconds : currentBaseSeconds),
        now,
      });
      const cooldownMs = (stragglerCfg.cooldownSeconds ?? 60) * 1000;
      const lastMs = plan.lastReplanTime === undefined ? 0 : Date.parse(plan.lastReplanTime);
      if (detection.changed && o.nowMs < lastMs + cooldownMs) {
        requeue(lastMs + cooldownMs - o.nowMs);
      } else if (detection.changed) {
        stragglers = detection.stragglers;
        const slowest = Math.max(0, ...stragglers.map((s) => s.iterationSeconds));
        const nextGeneration = planGeneration + 1;
        const { targetIterationSeconds: _old, ...planRest } = plan;
        status = {
          ...status,
          stragglers,
          replans: (status.replans ?? 0) + 1,
          plan: { ...planRest, generation: nextGeneration, lastReplanTime: now, ...(stragglers.length > 0 ? { targetIterationSeconds: Math.max(slowest, baseTarget) } : {}) },
        };
        replanned = true;
        if (stragglers.length > 0) {
          const list = stragglers.map((s) => `pipeline ${s.pipeline} (${s.slowdown.toFixed(2)}×, ${fmtSeconds(s.iterationSeconds)})`).join(', ');
          condition(JOB_CONDITIONS.stragglerDetected, 'True', 'StragglerDetected', `Stragglers: ${list}`);
          events.push({ type: 'Warning', reason: 'StragglerDetected', message: `Detected stragglers: ${list}` });
          events.push({ type: 'Normal', reason: 'Replanned', message: `Replanned (generation ${nextGeneration}): other pipelines target ${fmtSeconds(Math.max(slowest, baseTarget))}` });
        } else {
          condition(JOB_CONDITIONS.stragglerDetected, 'False', 'StragglerRecovered', 'Every pipeline keeps its plan');
          events.push({ type: 'Normal', reason: 'StragglerRecovered', message: `Stragglers recovered; restored the plan (generation ${nextGeneration})` });
        }
      }
    }
    const target = Math.max(baseTarget, status.plan?.targetIterationSeconds ?? 0);
    basePlan = lookup(f, target);
  } else {
    // The frontier is re-derived after a restart; ranks keep their plans meanwhile.
    requeue(1000);
  }
  const generationNow = status.plan?.generation ?? planGeneration;

  let succeeded = 0;
  for (let p = 0; p < pipelines; p++) {
    const isStraggler = stragglers.some((s) => s.pipeline === p);
    const chosen = isStraggler ? fastest : basePlan;
    for (let stage = 0; stage < stages; stage++) {
      const pod = podName(name, 'worker', p, stage);
      const existing = o.pods.get(pod);
      if (existing?.phase === 'Succeeded') succeeded++;
      const { token, nodeName } = existing?.phase === 'Succeeded' ? { token: existing.token, nodeName: existing.nodeName } : ensurePod('worker', p, stage);
      const rankName = `${name}-p${p}-s${stage}`;
      if (chosen === undefined) {
        // Without the frontier only identity fields can be kept right; the plan stays as it is.
        const rank = o.ranks.get(rankName);
        if (rank !== undefined && rank.spec.plan !== undefined) {
          ensureRank(p, stage, { ...rank.spec, ...rankBase(p, stage, pod, token, nodeName), mode: 'Run' }, nodeName);
        }
        continue;
      }
      const desired: RankSpec = {
        ...rankBase(p, stage, pod, token, nodeName),
        mode: 'Run',
        plan: rankPlan(chosen.plan, stage, generationNow, chosen.point.trueTimeSeconds),
      };
      ensureRank(p, stage, desired, nodeName);
    }
  }
  // Profiling pods left over (a restart between storing the profile and deleting them).
  for (const pod of o.pods.values()) if (pod.role === 'profiler' && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'ProfilingComplete' });

  if (succeeded === pipelines * stages) {
    setPhase('Succeeded', 'Completed', `All ${succeeded} workers succeeded`);
    condition(JOB_CONDITIONS.complete, 'True', 'Completed', `All ${succeeded} workers succeeded`);
    status = { ...status, completionTime: now };
    creates.splice(0, creates.length);
    rankPatches.splice(0, rankPatches.length);
    idleRanks();
    const ttl = spec.runPolicy?.ttlSecondsAfterFinished;
    if (ttl !== undefined) requeue(ttl * 1000);
  }
  return result();
}

/** Conditions are compared without their timestamps' sub-second noise. */
export function statusChanged(before: JobStatus | undefined, after: JobStatus): boolean {
  return !sameJson(before ?? {}, after);
}

export type { Condition };
