// The table of invalid jobs shared by the schema test and the API server test.
type Json = Record<string, unknown>;

export function validJob(): { metadata: { name: string }; spec: Json } {
  return {
    metadata: { name: 'gpt' },
    spec: {
      topology: { stages: 4, dataParallel: 2, microbatches: 8, schedule: '1F1B' },
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'trainer', image: 'example/train:1' }] } },
    },
  };
}

/** Sets a dotted path (numbers index lists) on a deep copy. */
export function withValue(spec: Json, dotted: string, value: unknown): Json {
  const copy = structuredClone(spec);
  const keys = dotted.split('.');
  let at: Json = copy;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Json;
  }
  const last = keys.at(-1) as string;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

export interface Case {
  readonly name: string;
  readonly set: Record<string, unknown>;
  /** The field the issue must name. */
  readonly field: string;
  /** For updates: the changes applied to the new version (the old one is the valid job). */
  readonly update?: boolean;
  readonly metadataName?: string;
}

export const cases: Case[] = [
  { name: 'no topology', set: { topology: undefined }, field: 'spec.topology' },
  { name: 'no stages', set: { 'topology.stages': undefined }, field: 'spec.topology.stages' },
  { name: 'zero stages', set: { 'topology.stages': 0 }, field: 'spec.topology.stages' },
  { name: 'too many stages', set: { 'topology.stages': 129 }, field: 'spec.topology.stages' },
  { name: 'fractional stages', set: { 'topology.stages': 2.5 }, field: 'spec.topology.stages' },
  { name: 'stages as a string', set: { 'topology.stages': '4' }, field: 'spec.topology.stages' },
  { name: 'negative data parallel', set: { 'topology.dataParallel': -1 }, field: 'spec.topology.dataParallel' },
  { name: 'zero micro-batches', set: { 'topology.microbatches': 0 }, field: 'spec.topology.microbatches' },
  { name: 'tensor parallel 32', set: { 'topology.tensorParallel': 32 }, field: 'spec.topology.tensorParallel' },
  { name: 'unknown schedule', set: { 'topology.schedule': 'ZeroBubble' }, field: 'spec.topology.schedule' },
  { name: 'interleaved without virtual stages', set: { 'topology.schedule': 'Interleaved1F1B' }, field: 'spec.topology.virtualStages' },
  { name: 'virtual stages with 1F1B', set: { 'topology.virtualStages': 2 }, field: 'spec.topology.virtualStages' },
  {
    name: 'interleaved with micro-batches not a multiple of stages',
    set: { 'topology.schedule': 'Interleaved1F1B', 'topology.virtualStages': 2, 'topology.microbatches': 6 },
    field: 'spec.topology.microbatches',
  },
  { name: 'too many ranks', set: { 'topology.stages': 128, 'topology.dataParallel': 1024 }, field: 'spec.topology' },
  { name: 'unknown topology field', set: { 'topology.pipelines': 2 }, field: 'spec.topology.pipelines' },
  { name: 'no template', set: { template: undefined }, field: 'spec.template' },
  { name: 'template without containers', set: { 'template.spec': { restartPolicy: 'Never' } }, field: 'spec.template.spec.containers' },
  { name: 'template with empty containers', set: { 'template.spec.containers': [] }, field: 'spec.template.spec.containers' },
  { name: 'container without image', set: { 'template.spec.containers': [{ name: 'trainer' }] }, field: 'spec.template.spec.containers[0].image' },
  { name: 'restartPolicy Always', set: { 'template.spec.restartPolicy': 'Always' }, field: 'spec.template.spec.restartPolicy' },
  { name: 'min clock above max clock', set: { 'gpu.minFrequencyMhz': 1500, 'gpu.maxFrequencyMhz': 1200 }, field: 'spec.gpu.minFrequencyMhz' },
  { name: 'clock out of range', set: { 'gpu.maxFrequencyMhz': 99999 }, field: 'spec.gpu.maxFrequencyMhz' },
  { name: 'bad GPU resource name', set: { 'gpu.resourceName': 'NVIDIA GPU' }, field: 'spec.gpu.resourceName' },
  { name: 'zero iterations per clock', set: { 'profiling.iterationsPerClock': 0 }, field: 'spec.profiling.iterationsPerClock' },
  { name: 'empty clock list', set: { 'profiling.frequenciesMhz': [] }, field: 'spec.profiling.frequenciesMhz' },
  { name: 'profiling timeout too short', set: { 'profiling.timeoutSeconds': 1 }, field: 'spec.profiling.timeoutSeconds' },
  { name: 'profileRef without a ConfigMap name', set: { 'profiling.profileRef': { key: 'profile.csv' } }, field: 'spec.profiling.profileRef.configMapName' },
  { name: 'unknown granularity', set: { 'planning.granularity': 'Layer' }, field: 'spec.planning.granularity' },
  { name: 'maxSlowdown below 1', set: { 'planning.maxSlowdown': 0.9 }, field: 'spec.planning.maxSlowdown' },
  { name: 'zero unit time', set: { 'planning.unitTimeSeconds': 0 }, field: 'spec.planning.unitTimeSeconds' },
  { name: 'unknown cost model', set: { 'planning.costModel': 'linear' }, field: 'spec.planning.costModel' },
  { name: 'straggler threshold above 1', set: { 'straggler.threshold': 2 }, field: 'spec.straggler.threshold' },
  { name: 'straggler window 0', set: { 'straggler.window': 0 }, field: 'spec.straggler.window' },
  { name: 'straggler enabled as a string', set: { 'straggler.enabled': 'yes' }, field: 'spec.straggler.enabled' },
  { name: 'negative backoff limit', set: { 'runPolicy.backoffLimit': -1 }, field: 'spec.runPolicy.backoffLimit' },
  { name: 'zero active deadline', set: { 'runPolicy.activeDeadlineSeconds': 0 }, field: 'spec.runPolicy.activeDeadlineSeconds' },
  { name: 'managedBy without a domain', set: { managedBy: 'kueue' }, field: 'spec.managedBy' },
  { name: 'unknown spec field', set: { replicas: 3 }, field: 'spec.replicas' },
  { name: 'name starting with a digit', set: {}, metadataName: '1gpt', field: 'metadata.name' },
  { name: 'name too long for child names', set: {}, metadataName: 'a'.repeat(41), field: 'metadata.name' },
  { name: 'changing stages', set: { 'topology.stages': 8 }, update: true, field: 'spec.topology' },
  { name: 'changing the schedule', set: { 'topology.schedule': 'GPipe' }, update: true, field: 'spec.topology' },
  { name: 'changing data parallelism', set: { 'topology.dataParallel': 4 }, update: true, field: 'spec.topology' },
  { name: 'setting managedBy after creation', set: { managedBy: 'kueue.x-k8s.io/multikueue' }, update: true, field: 'spec.managedBy' },
];

