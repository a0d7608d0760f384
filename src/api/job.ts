// PerseusTrainingJob (DESIGN §4): what a user applies. One schema gives the CRD, the TypeScript types and
// the controller's own validation; every field carries the description `kubectl explain` shows.
import { arr, bool, int, mapOf, num, obj, str, time } from './schema.ts';
import type { Infer, InferDefaulted } from './schema.ts';
import { CONFIG_MAP_KEYS, DEFAULT_GPU_RESOURCE, type API_VERSION } from './names.ts';
import { PIPELINE_SCHEDULES } from './planner-types.ts';

export const JOB_PHASES = ['Pending', 'Profiling', 'Planning', 'Running', 'Succeeded', 'Failed', 'Suspended'] as const;
export type JobPhase = (typeof JOB_PHASES)[number];

const dns1123Label = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/** `metav1.Condition`, shared with PerseusRank. */
export const conditionSchema = obj(
  'A condition of the object (metav1.Condition).',
  {
    type: str('Condition type in CamelCase (for example Profiled, Planned, StragglerDetected, InvalidSpec).', { maxLength: 316 }),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: int('The .metadata.generation the condition was set for.', { minimum: 0 }),
    lastTransitionTime: time('When the condition last changed status.'),
    reason: str('A CamelCase, machine-readable reason for the last transition.', { maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: str('A human-readable message about the transition.', { maxLength: 32768 }),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
);
export type Condition = Infer<typeof conditionSchema>;

export const conditionsSchema = arr('Current conditions, one per type.', conditionSchema, {
  listType: 'map',
  listMapKeys: ['type'],
  maxItems: 32,
});

const topology = obj(
  'Pipeline topology of the training run. Immutable: the profile and the frequency plans are computed for it.',
  {
    stages: int('Pipeline-parallel stages (S). One worker pod and one PerseusRank per stage and pipeline.', { minimum: 1, maximum: 128 }),
    dataParallel: int('Data-parallel pipelines (P), each a full copy of the pipeline.', { minimum: 1, maximum: 1024, default: 1 }),
    tensorParallel: int('GPUs per stage (tensor-parallel degree); each worker pod requests this many GPUs.', {
      minimum: 1,
      maximum: 16,
      default: 1,
    }),
    microbatches: int('Micro-batches per iteration (M).', { minimum: 1, maximum: 4096 }),
    schedule: str('Pipeline schedule of every iteration.', { enum: PIPELINE_SCHEDULES, default: '1F1B' }),
    virtualStages: int('Model chunks per stage for Interleaved1F1B (at least 2); must be unset for other schedules.', { minimum: 2, maximum: 64 }),
  },
  {
    required: ['stages', 'microbatches'],
    rules: [
      { rule: 'self == oldSelf', message: 'spec.topology is immutable', reason: 'FieldValueForbidden' },
      {
        rule: "self.schedule != 'Interleaved1F1B' || has(self.virtualStages)",
        message: 'spec.topology.virtualStages is required for the Interleaved1F1B schedule',
        reason: 'FieldValueRequired',
      },
      {
        rule: "self.schedule == 'Interleaved1F1B' || !has(self.virtualStages)",
        message: 'spec.topology.virtualStages is only valid with the Interleaved1F1B schedule',
        reason: 'FieldValueForbidden',
      },
      {
        rule: "self.schedule != 'Interleaved1F1B' || self.microbatches % self.stages == 0",
        message: 'spec.topology.microbatches must be a multiple of spec.topology.stages for Interleaved1F1B',
      },
      { rule: 'self.stages * self.dataParallel <= 8192', message: 'spec.topology: stages × dataParallel must be ≤ 8192 ranks' },
    ],
  },
);

const template = obj(
  'Pod template of every worker (a PodTemplateSpec). The controller adds the GPU request, the agent socket volume, the rank token volume, the PERSEUS_* and torch rendezvous environment, labels and owner references. Only labels, annotations and containers are described here; every other pod field is kept as written.',
  {
    metadata: obj('Labels and annotations added to every worker pod.', {
      labels: mapOf('Labels of every worker pod.', str('Label value.', { maxLength: 63 })),
      annotations: mapOf('Annotations of every worker pod.', str('Annotation value.')),
    }),
    spec: obj(
      'Pod spec (core/v1 PodSpec). Kept as written except for what the controller adds.',
      {
        containers: arr(
          'Containers of the worker pod; the first one is the training process and receives the GPUs.',
          obj(
            'A container (core/v1 Container).',
            {
              name: str('Container name (DNS label).', { pattern: dns1123Label, maxLength: 63 }),
              image: str('Container image.', { minLength: 1 }),
            },
            { required: ['name', 'image'], preserveUnknownFields: true },
          ),
          { minItems: 1, maxItems: 32 },
        ),
        restartPolicy: str('Must be Never or OnFailure: the controller, not the kubelet, recreates failed workers.', {
          enum: ['Never', 'OnFailure'],
        }),
      },
      { required: ['containers'], preserveUnknownFields: true },
    ),
  },
  { required: ['spec'] },
);

const gpu = obj(
  'GPU resource and the SM clock range the planner may use.',
  {
    resourceName: str('Extended resource that allocates one GPU.', {
      default: DEFAULT_GPU_RESOURCE,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-z0-9]([-a-z0-9._]*[a-z0-9])?$',
      maxLength: 253,
    }),
    minFrequencyMhz: int('Lowest SM clock (MHz) to profile and plan with; default: the lowest supported clock.', { minimum: 100, maximum: 5000 }),
    maxFrequencyMhz: int('Highest SM clock (MHz) to profile and plan with; default: the highest supported clock.', { minimum: 100, maximum: 5000 }),
  },
  {
    default: {},
    rules: [
      {
        rule: '!has(self.minFrequencyMhz) || !has(self.maxFrequencyMhz) || self.minFrequencyMhz <= self.maxFrequencyMhz',
        message: 'spec.gpu.minFrequencyMhz must be ≤ spec.gpu.maxFrequencyMhz',
      },
    ],
  },
);

const profiling = obj(
  'How the stage profile is obtained: by profiling one pipeline (the node agents sweep SM clocks while the workers train), or from a stored profile (profileRef).',
  {
    profileRef: obj(
      'Reuse a stored stage profile instead of profiling (for example the ConfigMap <job>-perseus of an earlier job with the same model and GPUs). The profile is copied into this job.',
      {
        configMapName: str('ConfigMap in the job namespace.', { pattern: dns1123Label.replace('$', '(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'), maxLength: 253 }),
        key: str('Key holding the profile CSV (stage,instruction,frequency_mhz,time_s,energy_j).', {
          default: CONFIG_MAP_KEYS.profile,
          pattern: '^[-._a-zA-Z0-9]+$',
          maxLength: 253,
        }),
      },
      { required: ['configMapName'] },
    ),
    warmupIterations: int('Iterations run before measuring at each clock.', { minimum: 0, maximum: 1000, default: 2 }),
    iterationsPerClock: int('Iterations measured at each clock.', { minimum: 1, maximum: 1000, default: 5 }),
    clockStrideMhz: int(
      'Distance between the clocks of the first profiling round (MHz), from the highest clock down; that round also measures the clock just below the highest and the lowest one. With refinement, later rounds measure only the clocks a plan would use.',
      { minimum: 1, maximum: 1000, default: 120 },
    ),
    frequenciesMhz: arr('Exact SM clocks (MHz) to profile; overrides clockStrideMhz. Unsupported clocks are skipped.', int('SM clock (MHz).', { minimum: 100, maximum: 5000 }), {
      minItems: 1,
      maxItems: 256,
      listType: 'set',
    }),
    earlyStop: bool('Stop lowering the clock of an instruction once its energy rises again (lower clocks are never on the frontier).', { default: true }),
    refinement: obj(
      'Model-based refinement after the first round: time and energy are fitted on every supported clock, a plan is sketched on the fitted values, and the clocks it would use without a measurement are measured in the next round (each on iterationsPerClock computations, clocks set per computation). The job is always planned on measured values only.',
      {
        maxRounds: int('Rounds after the first; 0 turns refinement off (the plan then uses the first round’s clocks only).', { minimum: 0, maximum: 10, default: 3 }),
        neighbours: int('Also measure this many unmeasured clocks on each side of every clock the sketched plan uses.', { minimum: 0, maximum: 4, default: 1 }),
        tolerancePercent: num('Stop when the sketched plan’s energy changed by less than this percentage of the all-max energy since the previous round.', {
          minimum: 0,
          maximum: 100,
          default: 0.05,
        }),
      },
      { default: {} },
    ),
    timeoutSeconds: int('Profiling fails when it takes longer than this.', { minimum: 10, maximum: 604800, default: 3600 }),
  },
  { default: {} },
);

const planning = obj(
  'How the frequency plan is chosen.',
  {
    granularity: str('Instruction: a clock per computation (needs the Perseus client in the training code). Stage: one clock per stage, set when the pod starts.', {
      enum: ['Instruction', 'Stage'],
      default: 'Instruction',
    }),
    maxSlowdown: num('Allowed iteration time relative to the fastest plan (1.0 = no slowdown, 1.05 = 5 % slower for more savings).', {
      minimum: 1,
      maximum: 2,
      default: 1,
    }),
    unitTimeSeconds: num(
      'Time quantum of the frontier solver (s); smaller is finer and slower. Unset: chosen automatically, the finest of 10 µs … 100 ms (1–2–5 steps) whose predicted solve (computations × unit steps across the iteration time range ≤ 24 million, lowtime counted double) yields at most 15000 frontier points.',
      { minimum: 0, exclusiveMinimum: true, maximum: 1 },
    ),
    costModel: str('exact: plan on the measured points; lowtime: the reference exponential fit.', { enum: ['exact', 'lowtime'], default: 'exact' }),
  },
  { default: {} },
);

const straggler = obj(
  'Straggler handling: when a pipeline runs slower than its plan, the other pipelines move to a cheaper frontier point that still finishes in time.',
  {
    enabled: bool('Detect stragglers and replan.', { default: true }),
    threshold: num('Relative slowdown over the plan that makes a pipeline a straggler (0.05 = 5 %).', { minimum: 0.01, maximum: 1, default: 0.05 }),
    window: int('Iterations averaged before deciding.', { minimum: 1, maximum: 64, default: 8 }),
    cooldownSeconds: int('Minimum time between two replans.', { minimum: 0, maximum: 86400, default: 60 }),
  },
  { default: {} },
);

const runPolicy = obj(
  'Run policy, with the semantics of batch/v1 Job.',
  {
    suspend: bool('Suspended: no pods run (deleted if running), ranks go Idle. Queueing systems such as Kueue create jobs suspended and admit them by clearing this.', {
      default: false,
    }),
    backoffLimit: int(
      'Gang restarts tolerated before the job fails (BackoffLimitExceeded). A failed, evicted, deleted or lost pod (its node NotReady past the controller’s --node-lost-grace) restarts every pod of the job, counted once.',
      { minimum: 0, maximum: 100, default: 3 },
    ),
    activeDeadlineSeconds: int('The job fails when it has been active (not suspended) longer than this.', { minimum: 1 }),
    ttlSecondsAfterFinished: int('Delete the job (and everything it owns) this long after it succeeded or failed.', { minimum: 0 }),
  },
  { default: {} },
);

export const jobSpecSchema = obj(
  'Desired state of a pipeline-parallel training job whose GPU clocks Perseus plans.',
  {
    topology,
    template,
    gpu,
    profiling,
    planning,
    straggler,
    runPolicy,
    managedBy: str(
      'Controller that reconciles this job; unset or perseus.energy/controller means this operator. Set by a queueing system (for example kueue.x-k8s.io/multikueue) to take over. Immutable.',
      { maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$' },
    ),
  },
  {
    required: ['topology', 'template'],
    rules: [
      {
        rule: 'has(self.managedBy) == has(oldSelf.managedBy) && (!has(self.managedBy) || self.managedBy == oldSelf.managedBy)',
        message: 'spec.managedBy is immutable',
        reason: 'FieldValueForbidden',
      },
    ],
  },
);
export type JobSpec = Infer<typeof jobSpecSchema>;
/**
 * A spec as `validateJob` returns it: every field with a schema default is present, so readers never
 * repeat a default (`spec.runPolicy.backoffLimit` is a number, not `number | undefined`).
 */
export type ValidatedJobSpec = InferDefaulted<typeof jobSpecSchema>;

const straggler_ = obj(
  'A pipeline running slower than its plan.',
  {
    pipeline: int('Pipeline index.', { minimum: 0 }),
    iterationSeconds: num('Measured iteration time (s), averaged over the window.'),
    slowdown: num('Measured time over the planned time of that pipeline.'),
    throttleReasons: arr('GPU throttle reasons reported by its ranks, other than the plan’s own clock locks.', str('NVML throttle reason.'), {
      maxItems: 16,
    }),
    since: time('When it was detected.'),
  },
  { required: ['pipeline', 'iterationSeconds', 'slowdown', 'since'] },
);

const failedPod = obj(
  'A pod whose loss restarted the job.',
  { name: str('Pod name.'), uid: str('Pod UID.'), reason: str('Why it was lost: PodFailed, PodEvicted, PodDeleted or NodeLost.') },
  { required: ['name', 'uid'] },
);

export const jobStatusSchema = obj('Observed state of the job.', {
  phase: str('Pending, Profiling, Planning, Running, Succeeded, Failed or Suspended.', { enum: JOB_PHASES }),
  conditions: conditionsSchema,
  observedGeneration: int('The .metadata.generation the status was computed for.', { minimum: 0 }),
  startTime: time('When the job last started running (left suspension or was created).'),
  completionTime: time('When the job succeeded or failed.'),
  profilingStartTime: time('When profiling started.'),
  profile: obj('The stage profile the plans are computed from.', {
    source: str('Profiled (measured by this job) or ProfileRef (copied from spec.profiling.profileRef).', { enum: ['Profiled', 'ProfileRef'] }),
    configMapName: str('ConfigMap holding profile.csv, frontier.csv and planner.json.'),
    measurements: int('Rows in the profile.', { minimum: 0 }),
    blockingPowerWatts: num('GPU power while blocked on communication (W).'),
    rounds: int('Profiling rounds run (1: the clock sweep only).', { minimum: 0 }),
    fittedRows: int('Rows of the fitted model that were never measured (the plan uses none of them; see profile-model.csv).', { minimum: 0 }),
    gpuSeconds: num('GPU time spent profiling: every profiling rank’s profiling time × its GPUs (s).', { minimum: 0 }),
    energyJoules: num('Energy of the profiling ranks’ GPUs while profiling (J).', { minimum: 0 }),
    paybackIterations: num('Training iterations (all pipelines) after which the plan’s savings equal the profiling energy.', { minimum: 0 }),
  }),
  plan: obj('The frequency plan in force.', {
    generation: int('Increases with every plan and replan; ranks report the generation they applied.', { minimum: 0 }),
    frontierPoints: int('Points on the iteration time–energy frontier.', { minimum: 0 }),
    baselineIterationSeconds: num('Model iteration time at the highest clocks (s).'),
    baselineIterationEnergyJoules: num('Energy of one iteration of one pipeline at the highest clocks, whole-GPU: the computations plus the blocking power while GPUs wait in pipeline bubbles (what NVML’s energy counter and dcgm-exporter measure; the blocking power is the one profiling measured, 0 for a profileRef that has none) (J).'),
    plannedIterationSeconds: num('Model iteration time of the plan (s).'),
    plannedIterationEnergyJoules: num('Energy of one iteration of one pipeline under the plan, whole-GPU as baselineIterationEnergyJoules (J).'),
    expectedSavingsRatio: num('1 − planned energy / baseline energy, for the pipelines running the base plan.'),
    savings: str('expectedSavingsRatio as a percentage, for display.'),
    targetIterationSeconds: num('Iteration time the non-straggler pipelines are planned for while stragglers are present (s).'),
    lastReplanTime: time('When the plan generation last changed.'),
  }),
  stragglers: arr('Pipelines currently slower than their plan.', straggler_, { listType: 'map', listMapKeys: ['pipeline'], maxItems: 1024 }),
  failedPods: arr('Pods whose failure, eviction or loss restarted the job (the most recent 128).', failedPod, { listType: 'map', listMapKeys: ['uid'], maxItems: 128 }),
  restarts: int(
    'Gang restarts so far: each tore down and recreated every pod of the job, counted once against runPolicy.backoffLimit. Pods carry it as label perseus.energy/restart-attempt and ranks as spec.attempt.',
    { minimum: 0 },
  ),
  lastRestartTime: time('When the last gang restart began.'),
  replans: int('Replans done for stragglers.', { minimum: 0 }),
  accepted: obj('The immutable fields as first accepted; the controller rejects later changes even where the API server does not enforce transition rules.', {
    topology: str('spec.topology when the job was accepted (JSON).'),
    managedBy: str('spec.managedBy when the job was accepted.'),
  }),
});
export type JobStatus = Infer<typeof jobStatusSchema>;

/** Object metadata as the controller reads it. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
}

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface PerseusTrainingJob {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PerseusTrainingJob';
  readonly metadata: ObjectMeta;
  readonly spec: JobSpec;
  readonly status?: JobStatus;
}
