// Phase Profiling: pipeline 0 runs as profiling pods whose ranks are in Profile mode; the node agents measure
// and report their stage's rows, in rounds. Round 1 sweeps a coarse spread of clocks; after each round the
// measurements are fitted on the whole clock grid, a plan is sketched on the fitted model (off the event
// loop, like every solve), and the next round measures the clocks that sketch uses without a measurement.
// Every finished round is stored in the job's ConfigMap (profiling.json), so a restart resumes it. When the
// sketch needs nothing new (or the round limit or the tolerance is reached) the measured-only profile is
// stored (profile.csv: the job is planned on it alone) and the profiling pods are deleted.
import { CONFIG_MAP_KEYS, configMapName, JOB_CONDITIONS, podName, RANK_CONDITIONS, rankName, type RankSpec } from '../api/index.ts';
import { findCondition } from '../api/conditions.ts';
import type { ProfileMeasurement } from '../api/planner-types.ts';
import { stageProfileToCsv } from '../planner/index.ts';
import type { ModelRow } from '../planner/profile-model.ts';
import { ChildActions, ensurePod, ensureRank, ensureService, rankBase } from './children.ts';
import { withActions, withCondition, withPhase, withRequeue, withStatus, type Decision, type JobContext, type PodDelete } from './decision.ts';
import { failJob } from './finished.ts';
import { lookup, solveRequest } from './planning.ts';
import { measuredProfile, modelOf, nextRound, parseProfilingState, profilingCost, profilingStateToJson, type ProfilingState } from './profiling-rounds.ts';

type SweepSpec = NonNullable<RankSpec['profile']>;

/** The finest time unit a sketch on the fitted model is solved at (s). */
export const SKETCH_MIN_UNIT_SECONDS = 0.001;

/** The clock sweep of round 1, from the job's profiling and GPU settings. */
export function profilingSweep(ctx: JobContext): SweepSpec {
  const { profiling: p, gpu } = ctx.spec;
  return {
    warmupIterations: p.warmupIterations,
    iterationsPerClock: p.iterationsPerClock,
    clockStrideMhz: p.clockStrideMhz,
    earlyStop: p.earlyStop,
    round: 1,
    ...(p.frequenciesMhz === undefined ? {} : { frequenciesMhz: p.frequenciesMhz }),
    ...(gpu.minFrequencyMhz === undefined ? {} : { minFrequencyMhz: gpu.minFrequencyMhz }),
    ...(gpu.maxFrequencyMhz === undefined ? {} : { maxFrequencyMhz: gpu.maxFrequencyMhz }),
  };
}

/** Whether rounds after the first run (refinement on, and no exact clock list). */
function refining(ctx: JobContext): boolean {
  return ctx.spec.profiling.refinement.maxRounds > 0 && ctx.spec.profiling.frequenciesMhz === undefined;
}

/** What each stage runs in this round: a new sweep spec, or `undefined` (nothing to measure: keep the rank as is). */
type RoundPlan = { readonly round: number; readonly specs: readonly (SweepSpec | undefined)[]; readonly sketchEnergyJoules?: number };

/** The next round's per-stage specs, a wait for the sketch, or the end of profiling. */
function planRound(ctx: JobContext, d: Decision, state: ProfilingState): { plan: RoundPlan } | { wait: Decision } | { finish: { reason: string; model?: ModelRow[] } } {
  const stages = ctx.spec.topology.stages;
  const round = state.rounds.length + 1;
  const refinement = ctx.spec.profiling.refinement;
  if (round === 1) return { plan: { round, specs: Array.from({ length: stages }, () => profilingSweep(ctx)) } };
  if (!refining(ctx)) return { finish: { reason: 'refinement is off' } };
  const model = modelOf(state, stages);
  // A sketch only has to find the clocks a plan would use: 1 ms suffices and solves several times faster.
  const request = solveRequest(ctx.spec, model.profile, SKETCH_MIN_UNIT_SECONDS);
  const frontier = ctx.o.frontierOf(request.key);
  if (frontier.state === 'failed') return { finish: { reason: `the sketch on the fitted model failed (${frontier.message})`, model: model.rows } };
  if (frontier.state !== 'ready') {
    const out = frontier.state === 'absent' ? { ...d, solve: request } : d;
    return { wait: withCondition(ctx, out, JOB_CONDITIONS.profiled, 'False', 'Refining', `Sketching a plan on the model fitted to ${state.rounds.length} round(s)`) };
  }
  const sketch = lookup(frontier.frontier, frontier.baseline.timeSeconds * ctx.spec.planning.maxSlowdown);
  const energy = sketch.point.trueEnergyJoules;
  const next = nextRound(state, sketch.plan, energy, frontier.baseline.energyJoules, model.rows, refinement);
  if (next.stop) return { finish: { reason: next.reason, model: model.rows } };
  const base = profilingSweep(ctx);
  const specs = Array.from({ length: stages }, (_, stage) => {
    const t = next.targets.get(stage);
    if (t === undefined) return undefined;
    const { clockStrideMhz, warmupIterations, iterationsPerClock, minFrequencyMhz, maxFrequencyMhz } = base;
    return {
      clockStrideMhz,
      warmupIterations,
      iterationsPerClock,
      ...(minFrequencyMhz === undefined ? {} : { minFrequencyMhz }),
      ...(maxFrequencyMhz === undefined ? {} : { maxFrequencyMhz }),
      round,
      targets: { forward: [...t.forward], backward: [...t.backward] },
    };
  });
  return { plan: { round, specs, sketchEnergyJoules: energy } };
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

  const state = parseProfilingState(o.configMap?.[CONFIG_MAP_KEYS.profiling]);
  const children = new ChildActions();
  for (const c of ensureService(ctx)) children.add({ create: c });
  const planned = planRound(ctx, out, state);
  if ('finish' in planned) return storeProfile(ctx, out, children, state, planned.finish);
  const round = 'plan' in planned ? planned.plan : undefined;
  if ('wait' in planned) out = planned.wait;

  const measurements: ProfileMeasurement[] = [];
  let blocking: number | undefined;
  let seconds = 0;
  let energy = 0;
  let complete = 0;
  for (let stage = 0; stage < stages; stage++) {
    const pod = podName(name, 'profiler', 0, stage);
    const ensured = ensurePod(ctx, 'profiler', 0, stage);
    children.add(ensured);
    const rank = o.ranks.get(rankName(name, 0, stage));
    const wanted = round?.specs[stage];
    const sweep = wanted ?? rank?.spec.profile ?? profilingSweep(ctx);
    children.add(ensureRank(ctx, 0, stage, { ...rankBase(ctx, 0, stage, pod, ensured.token, ensured.nodeName), mode: 'Profile', profile: sweep }, ensured.nodeName));
    if (round === undefined) continue;
    if (wanted === undefined) {
      complete++; // nothing to measure on this stage this round
      continue;
    }
    if (rank === undefined || rank.spec.mode !== 'Profile' || rank.spec.podName !== pod) continue;
    const profiled = findCondition(rank.status?.conditions, RANK_CONDITIONS.profiled);
    if (profiled?.status === 'False' && profiled.reason !== 'InProgress') {
      return failJob(ctx, withActions(out, children), 'ProfilingFailed', `Rank ${rank.metadata.name} failed to profile: ${profiled.message}`);
    }
    const rows = (rank.status?.stageProfile ?? []).filter((m) => m.stage === stage);
    const answered = (rank.status?.profileRound ?? 1) === round.round;
    if (profiled?.status === 'True' && rows.length > 0 && answered) {
      complete++;
      measurements.push(...rows);
      if (rank.status?.blockingPowerWatts !== undefined) blocking = (blocking ?? 0) + rank.status.blockingPowerWatts / stages;
      seconds += (rank.status?.profilingSeconds ?? 0) * spec.topology.tensorParallel;
      energy += rank.status?.profilingEnergyJoules ?? 0;
    }
  }
  if (round === undefined) return withActions(out, children);
  const label = round.round === 1 ? 'the clock sweep' : `refinement round ${round.round}`;
  out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'False', 'Profiling', `${complete} of ${stages} ranks finished ${label}`);
  if (complete < stages) return withActions(out, children);
  const done: ProfilingState = {
    rounds: [
      ...state.rounds,
      { round: round.round, rows: measurements, gpuSeconds: seconds, energyJoules: energy, ...(round.sketchEnergyJoules === undefined ? {} : { sketchEnergyJoules: round.sketchEnergyJoules }) },
    ],
    ...(state.blockingPowerWatts !== undefined ? { blockingPowerWatts: state.blockingPowerWatts } : blocking !== undefined ? { blockingPowerWatts: blocking } : {}),
  };
  out = { ...out, configMapData: { [CONFIG_MAP_KEYS.profiling]: profilingStateToJson(done) } };
  if (!refining(ctx)) return storeProfile(ctx, out, children, done, { reason: 'refinement is off' });
  out = withActions(out, children);
  return withRequeue(out, 0);
}

/** Profiling is over: store the measured-only profile (and the model, for reading), delete the profiling pods, move to Planning. */
function storeProfile(ctx: JobContext, d: Decision, children: ChildActions, state: ProfilingState, end: { reason: string; model?: ModelRow[] }): Decision {
  const { o, name } = ctx;
  const stages = ctx.spec.topology.stages;
  const stageProfile = measuredProfile(state, stages);
  const measurements = stageProfile.measurements;
  const fittedRows = end.model?.filter((r) => r.fitted).length ?? 0;
  const { gpuSeconds, energyJoules } = profilingCost(state);
  const modelCsv =
    end.model === undefined
      ? undefined
      : `stage,instruction,frequency,time,energy,source\n${end.model.map((r) => `${r.stage},${r.instruction},${r.frequencyMhz},${r.timeSeconds},${r.energyJoules},${r.fitted ? 'fitted' : 'measured'}`).join('\n')}\n`;
  let out: Decision = {
    ...d,
    configMapData: {
      ...(d.configMapData ?? {}),
      [CONFIG_MAP_KEYS.profile]: stageProfileToCsv(stageProfile),
      ...(modelCsv === undefined ? {} : { [CONFIG_MAP_KEYS.profileModel]: modelCsv }),
    },
  };
  out = withStatus(out, {
    ...out.status,
    profile: {
      source: 'Profiled',
      configMapName: configMapName(name),
      measurements: measurements.length,
      ...(stageProfile.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: stageProfile.blockingPowerWatts }),
      rounds: state.rounds.length,
      fittedRows,
      gpuSeconds,
      energyJoules,
    },
  });
  const summary = `Collected ${measurements.length} measurements from ${stages} ranks in ${state.rounds.length} round(s) (${end.reason}); ${gpuSeconds.toFixed(0)} GPU-seconds`;
  out = withCondition(ctx, out, JOB_CONDITIONS.profiled, 'True', 'ProfileCollected', summary);
  const podDeletes: PodDelete[] = [];
  for (let stage = 0; stage < stages; stage++) {
    const pod = o.pods.get(podName(name, 'profiler', 0, stage));
    if (pod !== undefined && !pod.deleting) podDeletes.push({ name: pod.name, reason: 'ProfilingComplete' });
  }
  out = withActions(out, { podDeletes, creates: children.creates.filter((c) => c.kind !== 'Pod'), rankPatches: children.rankPatches });
  out = withPhase(out, 'Planning', 'ProfileCollected', `Collected the stage profile (${measurements.length} measurements, ${state.rounds.length} round(s))`);
  return withRequeue(out, 0);
}
