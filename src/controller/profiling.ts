// Phase Profiling: pipeline 0 runs as profiling pods whose ranks are in Profile mode; the node agents sweep
// the clocks and report their stage's rows. Once every stage has reported, the profile is stored in the
// job's ConfigMap (so a restart resumes in Planning) and the profiling pods are deleted.
import { CONFIG_MAP_KEYS, configMapName, JOB_CONDITIONS, podName, RANK_CONDITIONS, rankName, type RankSpec } from '../api/index.ts';
import type { ProfileMeasurement, StageProfile } from '../api/planner-types.ts';
import { stageProfileToCsv } from '../planner/index.ts';
import { ChildActions, ensurePod, ensureRank, ensureService, rankBase } from './children.ts';
import { findCondition } from '../api/conditions.ts';
import { withActions, withCondition, withPhase, withRequeue, withStatus, type Decision, type JobContext, type PodDelete } from './decision.ts';
import { failJob } from './finished.ts';

/** The clock sweep every profiling rank runs, from the job's profiling and GPU settings. */
export function profilingSweep(ctx: JobContext): NonNullable<RankSpec['profile']> {
  const { profiling: p, gpu } = ctx.spec;
  return {
    warmupIterations: p.warmupIterations,
    iterationsPerClock: p.iterationsPerClock,
    clockStrideMhz: p.clockStrideMhz,
    earlyStop: p.earlyStop,
    ...(p.frequenciesMhz === undefined ? {} : { frequenciesMhz: p.frequenciesMhz }),
    ...(gpu.minFrequencyMhz === undefined ? {} : { minFrequencyMhz: gpu.minFrequencyMhz }),
    ...(gpu.maxFrequencyMhz === undefined ? {} : { maxFrequencyMhz: gpu.maxFrequencyMhz }),
  };
}

/** One pass of phase Profiling (no plan, no stored profile, no profileRef). */
export function profile(ctx: JobContext, d: Decision): Decision {
  const { o, name, spec } = ctx;
  const stages = spec.topology.stages;
  let out = d;
  if (out.status.phase !== 'Profiling') {
    out = withPhase(out, 'Profiling', 'ProfilingStarted', `Started profiling pipeline 0 (${stages} ranks)`);
    out = withStatus(out, { ...out.status, profilingStartTime: ctx.now });
  }
  const timeout = spec.profiling.timeoutSeconds;
  const startedMs = Date.parse(out.status.profilingStartTime ?? ctx.now);
  if (o.nowMs >= startedMs + timeout * 1000) return failJob(ctx, out, 'ProfilingTimeout', `Profiling did not finish within ${timeout} s`);
  out = withRequeue(out, startedMs + timeout * 1000 - o.nowMs);

  const sweep = profilingSweep(ctx);
  const children = new ChildActions();
  for (const c of ensureService(ctx)) children.add({ create: c });
  const measurements: ProfileMeasurement[] = [];
  const blocking: number[] = [];
  let complete = 0;
  for (let stage = 0; stage < stages; stage++) {
    const pod = podName(name, 'profiler', 0, stage);
    const ensured = ensurePod(ctx, 'profiler', 0, stage);
    children.add(ensured);
    children.add(ensureRank(ctx, 0, stage, { ...rankBase(ctx, 0, stage, pod, ensured.token, ensured.nodeName), mode: 'Profile', profile: sweep }, ensured.nodeName));
    const rank = o.ranks.get(rankName(name, 0, stage));
    if (rank === undefined || rank.spec.mode !== 'Profile' || rank.spec.podName !== pod) continue;
    const profiled = findCondition(rank.status?.conditions, RANK_CONDITIONS.profiled);
    if (profiled?.status === 'False' && profiled.reason !== 'InProgress') {
      return failJob(ctx, withActions(out, children), 'ProfilingFailed', `Rank ${rank.metadata.name} failed to profile: ${profiled.message}`);
    }
    const rows = (rank.status?.stageProfile ?? []).filter((m) => m.stage === stage);
    if (profiled?.status === 'True' && rows.length > 0) {
      complete++;
      measurements.push(...rows);
      if (rank.status?.blockingPowerWatts !== undefined) blocking.push(rank.status.blockingPowerWatts);
    }
  }
  out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'False', 'Profiling', `${complete} of ${stages} ranks reported their stage profile`);
  if (complete < stages) return withActions(out, children);
  return storeProfile(ctx, out, children, measurements, blocking);
}

/** Every stage reported: store the profile, delete the profiling pods (creating none), move to Planning. */
function storeProfile(ctx: JobContext, d: Decision, children: ChildActions, measurements: ProfileMeasurement[], blocking: number[]): Decision {
  const { o, name } = ctx;
  const stages = ctx.spec.topology.stages;
  const stageProfile: StageProfile = {
    stageCount: stages,
    measurements,
    ...(blocking.length === 0 ? {} : { blockingPowerWatts: blocking.reduce((a, b) => a + b, 0) / blocking.length }),
  };
  let out: Decision = { ...d, configMapData: { [CONFIG_MAP_KEYS.profile]: stageProfileToCsv(stageProfile) } };
  out = withStatus(out, {
    ...out.status,
    profile: {
      source: 'Profiled',
      configMapName: configMapName(name),
      measurements: measurements.length,
      ...(stageProfile.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: stageProfile.blockingPowerWatts }),
    },
  });
  out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'True', 'ProfileCollected', `Collected ${measurements.length} measurements from ${stages} ranks`);
  const podDeletes: PodDelete[] = [];
  for (let stage = 0; stage < stages; stage++) {
    const pod = o.pods.get(podName(name, 'profiler', 0, stage));
    if (pod !== undefined && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'ProfilingComplete' });
  }
  out = withActions(out, { podDeletes, creates: children.creates.filter((c) => c.kind !== 'Pod'), rankPatches: children.rankPatches });
  out = withPhase(out, 'Planning', 'ProfileCollected', `Collected the stage profile (${measurements.length} measurements)`);
  return withRequeue(out, 0);
}
