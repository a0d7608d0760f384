// The planner's input and output types (DESIGN §2): StageProfile → PipelineSpec → Frontier → FrequencyPlan.
// Pure data, shared by the planner, the controller (which stores and hands them out) and the agent.

/** A pipeline computation kind. */
export type Instruction = 'forward' | 'backward';
export const INSTRUCTIONS: readonly Instruction[] = ['forward', 'backward'];

/** One measured row: the mean time and energy of ONE computation of `instruction` on `stage` at one SM clock. */
export interface ProfileMeasurement {
  readonly stage: number;
  readonly instruction: Instruction;
  readonly frequencyMhz: number;
  readonly timeSeconds: number;
  readonly energyJoules: number;
}

/** Per-stage measurements of every instruction at every clock, and optionally the measured blocking power. */
export interface StageProfile {
  /** Number of pipeline stages; stages are numbered 0 … stageCount − 1. */
  readonly stageCount: number;
  readonly measurements: readonly ProfileMeasurement[];
  /** GPU power while blocked on communication (W), when measured with the profile. */
  readonly blockingPowerWatts?: number;
}

/** Pipeline schedules the planner builds DAGs for. */
export type PipelineSchedule = '1F1B' | 'GPipe' | 'Interleaved1F1B';
export const PIPELINE_SCHEDULES: readonly PipelineSchedule[] = ['1F1B', 'GPipe', 'Interleaved1F1B'];

/** The shape of one pipeline's iteration. */
export interface PipelineSpec {
  readonly stages: number;
  readonly microbatches: number;
  readonly schedule: PipelineSchedule;
  /** Model chunks per stage for Interleaved1F1B (≥ 2); ignored otherwise. */
  readonly virtualStages?: number;
}

/** `lowtime`: the reference's fitted exponential cost; `exact`: the measured points (convex hull). */
export type CostModel = 'lowtime' | 'exact';
/** `Instruction`: one clock per computation; `Stage`: one clock per stage for the whole iteration. */
export type PlanGranularity = 'Instruction' | 'Stage';

/** Options of one frontier solve. */
export interface PlannerOptions {
  readonly unitTimeSeconds: number;
  readonly blockingPowerWatts: number;
  readonly costModel: CostModel;
  readonly granularity: PlanGranularity;
}

/** One computation of a stage's iteration schedule, in execution order. */
export interface PlannedComputation {
  readonly instruction: Instruction;
  readonly microbatch: number;
  /** Model chunk on this stage (0 unless Interleaved1F1B). */
  readonly chunk: number;
  readonly frequencyMhz: number;
}

/** The clocks of one stage (a PerseusRank runs the plan of its stage). */
export interface StagePlan {
  readonly stage: number;
  /** Execution order; for `Stage` granularity every entry has the same clock. */
  readonly computations: readonly PlannedComputation[];
  /** Set for `Stage` granularity: the one clock of this stage. */
  readonly frequencyMhz?: number;
}

/** The clock of every computation of one pipeline iteration, at one frontier point. */
export interface FrequencyPlan {
  readonly granularity: PlanGranularity;
  /** The frontier point's model iteration time (s) and energy (J). */
  readonly modelTimeSeconds: number;
  readonly modelEnergyJoules: number;
  readonly stages: readonly StagePlan[];
}

/** One point of the iteration time–energy frontier (model values). */
export interface FrontierPoint {
  readonly timeSeconds: number;
  readonly energyJoules: number;
}
