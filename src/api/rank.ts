// PerseusRank (DESIGN §4): the contract between the controller (writes spec) and the node agent on the
// rank's node (writes status). One per (pipeline, stage), named <job>-p<pipeline>-s<stage>, owned by its job.
import { arr, bool, int, num, obj, str, time } from './schema.ts';
import type { Infer } from './schema.ts';
import { conditionsSchema, type ObjectMeta } from './job.ts';
import type { API_VERSION } from './names.ts';

export const RANK_MODES = ['Profile', 'Run', 'Idle'] as const;
export type RankMode = (typeof RANK_MODES)[number];

const instruction = str('Computation kind.', { enum: ['forward', 'backward'] });

const sweep = obj(
  'The clock sweep of Profile mode. The agent runs every instruction at each clock from the highest supported clock down (within the bounds) for warmupIterations + iterationsPerClock iterations and reports the mean time and energy of one computation.',
  {
    warmupIterations: int('Iterations run before measuring at each clock.', { minimum: 0 }),
    iterationsPerClock: int('Iterations measured at each clock.', { minimum: 1 }),
    clockStrideMhz: int('Distance between profiled clocks (MHz).', { minimum: 1 }),
    frequenciesMhz: arr('Exact clocks to profile (MHz); overrides clockStrideMhz.', int('SM clock (MHz).', { minimum: 1 }), { maxItems: 256 }),
    minFrequencyMhz: int('Lowest clock to profile (MHz).', { minimum: 1 }),
    maxFrequencyMhz: int('Highest clock to profile (MHz).', { minimum: 1 }),
    earlyStop: bool('Stop lowering an instruction’s clock once its energy rises again.'),
    round: int('Profiling round: 1 is the clock sweep, later rounds measure targets; the agent reports it back as status.profileRound.', { minimum: 1 }),
    targets: obj('Refinement round: the clocks to measure per instruction (each on iterationsPerClock computations, the clock set per computation); replaces the sweep.', {
      forward: arr('SM clocks (MHz) of forward computations to measure.', int('SM clock (MHz).', { minimum: 1 }), { maxItems: 256 }),
      backward: arr('SM clocks (MHz) of backward computations to measure.', int('SM clock (MHz).', { minimum: 1 }), { maxItems: 256 }),
    }),
  },
  { required: ['warmupIterations', 'iterationsPerClock', 'clockStrideMhz'] },
);

/** One computation of a stage plan (also the agent's static rank file). */
export const plannedComputationSchema = obj(
  'One computation of the stage’s iteration, in execution order.',
  {
    instruction,
    microbatch: int('Micro-batch index.', { minimum: 0 }),
    chunk: int('Model chunk on this stage (0 unless Interleaved1F1B).', { minimum: 0 }),
    frequencyMhz: int('SM clock to lock for this computation (MHz).', { minimum: 1 }),
  },
  { required: ['instruction', 'microbatch', 'chunk', 'frequencyMhz'] },
);

const plan = obj(
  'The FrequencyPlan of this rank’s stage (Run mode).',
  {
    generation: int('Plan generation; the agent reports it as status.appliedPlanGeneration once the clocks follow this plan.', { minimum: 1 }),
    granularity: str('Instruction: one clock per computation. Stage: frequencyMhz for the whole iteration.', { enum: ['Instruction', 'Stage'] }),
    modelIterationSeconds: num('Iteration time the plan expects (s).'),
    frequencyMhz: int('Stage granularity: the one clock of this stage (MHz).', { minimum: 1 }),
    computations: arr('Instruction granularity: the clock of every computation, in execution order.', plannedComputationSchema, { maxItems: 65536 }),
  },
  { required: ['generation', 'granularity', 'modelIterationSeconds'] },
);

export const rankSpecSchema = obj(
  'Desired state of one rank (written by the controller).',
  {
    jobName: str('The PerseusTrainingJob this rank belongs to.'),
    pipeline: int('Pipeline (data-parallel) index.', { minimum: 0 }),
    stage: int('Pipeline stage index.', { minimum: 0 }),
    podName: str('The pod that runs this rank now (a profiling pod in Profile mode, the worker pod in Run mode).'),
    nodeName: str('Node of that pod once scheduled; the agent of that node serves the rank (also label perseus.energy/node).'),
    gpusPerRank: int('GPUs allocated to the pod (tensor-parallel degree).', { minimum: 1 }),
    mode: str('Profile: sweep clocks and report status.stageProfile. Run: enforce spec.plan. Idle: reset the clocks to default.', { enum: RANK_MODES }),
    tokenSha256: str('Hex SHA-256 of the token mounted into podName only; a local connection proves it is that pod by presenting the token.', {
      pattern: '^[a-f0-9]{64}$',
    }),
    attempt: int('Gang restart attempt of the job (its status.restarts) this spec is for; the agent reports it back as status.attempt and forgets the iterations of an older one.', {
      minimum: 0,
    }),
    podUid: str('UID of podName once it was scheduled: a rank whose pod is gone, or has another UID, lost it (the job restarts).'),
    profile: sweep,
    plan,
  },
  {
    required: ['jobName', 'pipeline', 'stage', 'podName', 'mode'],
    rules: [
      { rule: "self.mode != 'Run' || has(self.plan)", message: 'spec.plan is required in Run mode', reason: 'FieldValueRequired' },
      { rule: "self.mode != 'Profile' || has(self.profile)", message: 'spec.profile is required in Profile mode', reason: 'FieldValueRequired' },
    ],
  },
);
export type RankSpec = Infer<typeof rankSpecSchema>;

export const measurementSchema = obj(
  'Mean time and energy of ONE computation of an instruction at one clock.',
  {
    stage: int('Stage index.', { minimum: 0 }),
    instruction,
    frequencyMhz: int('SM clock (MHz).', { minimum: 1 }),
    timeSeconds: num('Mean time of one computation (s).', { minimum: 0 }),
    energyJoules: num('Mean energy of one computation (J).', { minimum: 0 }),
  },
  { required: ['stage', 'instruction', 'frequencyMhz', 'timeSeconds', 'energyJoules'] },
);

export const rankStatusSchema = obj('Observed state of the rank (written by the node agent).', {
  node: str('Node of the agent that reports.'),
  attempt: int('The spec.attempt the agent served when it wrote this status; the controller ignores reports of an older attempt.', { minimum: 0 }),
  gpuUuids: arr('UUIDs of the GPUs allocated to the pod.', str('GPU UUID.'), { maxItems: 16 }),
  stageProfile: arr('Profile mode: the measured rows of this rank’s stage. Complete when condition Profiled is True.', measurementSchema, { maxItems: 4096 }),
  blockingPowerWatts: num('GPU power while blocked on communication (W), measured while profiling.', { minimum: 0 }),
  profileRound: int('The spec.profile.round that stageProfile answers.', { minimum: 1 }),
  profilingSeconds: num('Wall time of that profiling round on this rank (s).', { minimum: 0 }),
  profilingEnergyJoules: num('Energy of the rank’s GPUs during that profiling round (J).', { minimum: 0 }),
  appliedPlanGeneration: int('The spec.plan.generation the clocks follow now.', { minimum: 0 }),
  iterations: int('Iterations observed since the applied plan generation took effect.', { minimum: 0 }),
  recentIterationSeconds: arr(
    'Compute time of the most recent iterations under appliedPlanGeneration (s), oldest first, excluding the wait at the data-parallel gradient sync; cleared when a new generation is applied.',
    num('Iteration time (s).', { minimum: 0 }),
    { maxItems: 256 },
  ),
  throttleReasons: arr('Active NVML clock throttle reasons (for example SwThermalSlowdown, HwSlowdown, SwPowerCap).', str('Reason.'), { maxItems: 16 }),
  lastReportTime: time('When the agent last wrote this status.'),
  conditions: conditionsSchema,
});
export type RankStatus = Infer<typeof rankStatusSchema>;

export interface PerseusRank {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'PerseusRank';
  readonly metadata: ObjectMeta;
  readonly spec: RankSpec;
  readonly status?: RankStatus;
}
