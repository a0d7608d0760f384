// The agent's view of a PerseusRank and the small interfaces through which the Kubernetes wiring feeds it
// (rank specs, pod → GPU lookup) and drains it (rank status). Nothing here knows about Kubernetes.
import type { PlanGranularity, ProfileMeasurement, StagePlan } from '../api/planner-types.ts';
import type { ClockEventReason } from '../nvml/gpu.ts';

/** What the agent does for a rank. */
export type RankMode = 'Profile' | 'Run' | 'Idle';

/** The profiling sweep of a rank (PerseusRank spec.profiling). */
export interface ProfilingSweepSpec {
  /** Iterations discarded after every clock change. */
  readonly warmupIterations: number;
  /** Measured iterations per clock (≥ 1). */
  readonly iterationsPerClock: number;
  /** Minimum MHz between consecutive swept clocks; 0 sweeps every supported clock. */
  readonly clockStrideMhz: number;
  /** Stop once iteration energy rose for 5 consecutive clocks past the first third of the sweep. */
  readonly earlyStop: boolean;
  /** Exact clocks to sweep (MHz); overrides clockStrideMhz. Clocks the GPU does not support are skipped. */
  readonly frequenciesMhz?: readonly number[];
  /** Bounds of the sweep (MHz); default: every supported clock. */
  readonly minFrequencyMhz?: number;
  readonly maxFrequencyMhz?: number;
  /** Profiling round (1: the clock sweep; later rounds measure `targets`); reported back with the result. */
  readonly round?: number;
  /** Refinement round: the clocks to measure per instruction, set per computation as under a plan. */
  readonly targets?: { readonly forward: readonly number[]; readonly backward: readonly number[] };
}

/** A rank's FrequencyPlan (PerseusRank spec.plan). */
export interface RankPlan {
  /** Increases whenever the controller writes a new plan; reported back as appliedPlanGeneration. */
  readonly generation: number;
  readonly granularity: PlanGranularity;
  readonly stagePlan: StagePlan;
}

/** Identifies a PerseusRank. */
export interface RankKey {
  readonly namespace: string;
  readonly name: string;
}

/** The agent's view of one PerseusRank spec on this node. */
export interface AgentRankSpec extends RankKey {
  readonly job: string;
  readonly pipeline: number;
  readonly stage: number;
  /** The worker pod of this rank (same namespace). */
  readonly podName: string;
  readonly mode: RankMode;
  /** Lowercase hex SHA-256 of the per-rank token mounted into the pod. */
  readonly tokenSha256: string;
  /** The job's gang restart attempt this spec is for (reported back as status.attempt). */
  readonly attempt?: number;
  readonly plan?: RankPlan;
  readonly profiling?: ProfilingSweepSpec;
}

/** A measured stage profile for one rank. */
export interface RankProfileResult {
  readonly measurements: readonly ProfileMeasurement[];
  /** GPU power between computations (W), when gaps were observed. */
  readonly blockingPowerWatts?: number;
  /** The measurements as `stage,instruction,frequency,time,energy` CSV. */
  readonly csv: string;
  /** True when the sweep ended early because energy kept rising. */
  readonly stoppedEarly: boolean;
  /** The spec's round this result answers (1 when the spec names none). */
  readonly round: number;
  /** Wall time of the sweep, from its first measured sample to its end (s). */
  readonly seconds: number;
  /** Energy of the rank's GPUs over those seconds (J). */
  readonly energyJoules: number;
}

/** What the agent reports for a rank (PerseusRank status). */
export interface AgentRankStatus {
  readonly node: string;
  readonly gpuUuids: readonly string[];
  readonly mode: RankMode;
  /** The plan generation currently enforced, if any. */
  readonly appliedPlanGeneration?: number;
  /** Whether a training connection is bound to the rank. */
  readonly connected: boolean;
  /** Most recent first-to-last iteration wall times (s), at most 32. */
  readonly recentIterationSeconds: readonly number[];
  /** Energy of the same iterations (J, summed over the rank's GPUs). */
  readonly recentIterationEnergyJoules: readonly number[];
  /** Throttle reasons seen in those iterations. */
  readonly throttleReasons: readonly ClockEventReason[];
  /** Profiling progress: clocks finished / clocks planned. */
  readonly profilingProgress?: { readonly clocksDone: number; readonly clocksPlanned: number };
  readonly profile?: RankProfileResult;
  /** The last problem with this rank (e.g. NVML refused a clock), for a condition. */
  readonly lastError?: string;
}

/** Where rank status goes (the kube wiring patches PerseusRank status). May reject; the agent retries later. */
export interface RankStatusSink {
  write(rank: RankKey, status: AgentRankStatus): Promise<void>;
}

/** Pod → allocated GPU UUIDs (kubelet pod-resources API in production). */
export interface PodGpuResolver {
  gpusForPod(namespace: string, podName: string): Promise<readonly string[]>;
}

/** The logging surface the agent needs; a winston Logger satisfies it. */
export interface AgentLogger {
  debug(message: string, fields?: Record<string, unknown>): unknown;
  info(message: string, fields?: Record<string, unknown>): unknown;
  warn(message: string, fields?: Record<string, unknown>): unknown;
  error(message: string, fields?: Record<string, unknown>): unknown;
}

/** A logger that drops everything. */
export const silentLogger: AgentLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
