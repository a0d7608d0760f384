// The results of a simulated job: what the tracker saw, the profile the agents measured compared with the
// simulated GPUs' truth, and the all-max baseline on that truth (the controller's planner inputs).
import { defaultJobSpec } from '../../api/index.ts';
import type { StageProfile } from '../../api/planner-types.ts';
import { plannerInputs } from '../../controller/planning.ts';
import { CONFIG_MAP_KEYS, configMapName } from '../../api/names.ts';
import { CONFIGMAPS, type KubeApi } from '../../kube/client.ts';
import { allMaxPlan, evaluatePlan, parseStageProfileCsv } from '../../planner/index.ts';
import type { JobManifest } from './job.ts';
import { jobKey, type JobTracker } from './job-tracker.ts';
import type { JobResult, ProfileCheck } from './simulation.ts';

/** Compares the profile the agents measured (ConfigMap <job>-perseus) with the simulated GPUs' truth. */
export function checkProfile(csv: string | undefined, truth: StageProfile): ProfileCheck | undefined {
  if (csv === undefined) return undefined;
  const parsed = parseStageProfileCsv(csv);
  if (!parsed.ok) return undefined;
  let maxT = 0;
  let maxE = 0;
  for (const m of parsed.value.measurements) {
    const t = truth.measurements.find((r) => r.stage === m.stage && r.instruction === m.instruction && r.frequencyMhz === m.frequencyMhz);
    if (t === undefined) return { rows: parsed.value.measurements.length, maxTimeErrorRatio: Infinity, maxEnergyErrorRatio: Infinity };
    maxT = Math.max(maxT, Math.abs(m.timeSeconds - t.timeSeconds) / t.timeSeconds);
    maxE = Math.max(maxE, Math.abs(m.energyJoules - t.energyJoules) / t.energyJoules);
  }
  return { rows: parsed.value.measurements.length, maxTimeErrorRatio: maxT, maxEnergyErrorRatio: maxE };
}

/** The simulated GPUs' truth. */
export interface GpuTruth {
  readonly profile: StageProfile;
  readonly blockingPowerWatts: number;
}

/** The result of one job once it finished. */
export async function jobResult(j: JobManifest, tracker: JobTracker, api: KubeApi, truth: GpuTruth): Promise<JobResult> {
  const ns = j.metadata.namespace ?? 'default';
  const tracked = tracker.jobs.get(jobKey(ns, j.metadata.name))!;
  const spec = defaultJobSpec(j.spec) as Parameters<typeof plannerInputs>[0];
  const { pipeline } = plannerInputs(spec, truth.profile);
  const pipelines = spec.topology.dataParallel ?? 1;
  const base = evaluatePlan(allMaxPlan(truth.profile, pipeline), truth.profile, pipeline, truth.blockingPowerWatts);
  const cm = await api.get(CONFIGMAPS, ns, configMapName(j.metadata.name));
  return {
    namespace: ns,
    name: j.metadata.name,
    stages: pipeline.stages,
    pipelines,
    microbatches: pipeline.microbatches,
    phases: tracked.phases,
    generations: tracked.generations,
    status: tracked.status,
    profileCheck: checkProfile((cm?.['data'] as Record<string, string> | undefined)?.[CONFIG_MAP_KEYS.profile], truth.profile),
    baseline: { iterationSeconds: base.timeSeconds, iterationEnergyJoules: base.energyJoules * pipelines },
    profiling: tracked.profiling,
    training: tracked.training,
  };
}
