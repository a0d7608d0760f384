// What the node agent holds for one rank on its node: the spec, its GPUs once resolved, the training
// sessions bound to it, the plan or sweep in force, its recent iterations and its status writer.
import type { TimerHandle } from './clock.ts';
import { IterationStats } from './iteration-stats.ts';
import type { PlanIndex } from './plan-index.ts';
import type { Sweep } from './profiler.ts';
import type { RankStatusWriter } from './status-writer.ts';
import type { AgentRankSpec } from './types.ts';

/** A training connection as a rank sees it (see training-session.ts). */
export interface BoundSession {
  /** The agent withdrew the rank (removed or reassigned): the connection is closed with `reason`. */
  unbind(reason: string): void;
}

export interface RankState {
  spec: AgentRankSpec;
  /** `namespace/name`. */
  readonly key: string;
  gpuUuids: readonly string[] | undefined;
  resolution: Promise<void> | undefined;
  resolveError: string | undefined;
  /** Retries the GPU lookup while the kubelet has not allocated the pod's GPUs yet. */
  resolveTimer: TimerHandle | undefined;
  resolveFailures: number;
  readonly sessions: Set<BoundSession>;
  /** The session whose messages drive the profiling sweep and the iteration reports. */
  primary: BoundSession | undefined;
  graceTimer: TimerHandle | undefined;
  plan: PlanIndex | undefined;
  appliedGeneration: number | undefined;
  sweep: Sweep | undefined;
  readonly stats: IterationStats;
  lastError: string | undefined;
  readonly status: RankStatusWriter;
  removed: boolean;
}

export const rankKeyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

/** A rank just seen; `writerFor` builds its status writer (which needs the state to take snapshots). */
export function newRankState(spec: AgentRankSpec, writerFor: (rank: RankState) => RankStatusWriter): RankState {
  const rank: Omit<RankState, 'status'> & { status?: RankStatusWriter } = {
    spec,
    key: rankKeyOf(spec.namespace, spec.name),
    gpuUuids: undefined,
    resolution: undefined,
    resolveError: undefined,
    resolveTimer: undefined,
    resolveFailures: 0,
    sessions: new Set(),
    primary: undefined,
    graceTimer: undefined,
    plan: undefined,
    appliedGeneration: undefined,
    sweep: undefined,
    stats: new IterationStats(),
    lastError: undefined,
    removed: false,
  };
  rank.status = writerFor(rank as RankState);
  return rank as RankState;
}
