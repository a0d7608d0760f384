// Throttled status writes for one rank: at most one write per interval, never two at once, a finished
// profile written at once, and a failed write retried on the same schedule.
import type { AgentClock, TimerHandle } from './clock.ts';
import type { RankState } from './rank-state.ts';
import type { AgentLogger, AgentRankStatus, RankKey, RankStatusSink } from './types.ts';

/** The status of a rank as the sink receives it. */
export function rankStatusOf(rank: RankState, nodeName: string): AgentRankStatus {
  const progress = rank.sweep?.progress();
  const profile = rank.sweep?.profile;
  const problem = rank.lastError ?? rank.resolveError;
  return {
    node: nodeName,
    gpuUuids: rank.gpuUuids ?? [],
    mode: rank.spec.mode,
    ...(rank.appliedGeneration !== undefined ? { appliedPlanGeneration: rank.appliedGeneration } : {}),
    connected: rank.sessions.size > 0,
    recentIterationSeconds: [...rank.stats.seconds],
    recentIterationEnergyJoules: [...rank.stats.energyJoules],
    throttleReasons: rank.stats.throttleReasons(),
    ...(progress ? { profilingProgress: { clocksDone: progress.clocksDone, clocksPlanned: progress.clocksPlanned } } : {}),
    ...(profile ? { profile } : {}),
    ...(problem !== undefined ? { lastError: problem } : {}),
  };
}

export interface RankStatusWriterOptions {
  readonly rank: RankKey;
  readonly clock: AgentClock;
  readonly logger: AgentLogger;
  readonly sink: RankStatusSink;
  /** At most one write per this interval. */
  readonly intervalMs: number;
  /** The status to write now; called once per write, when the write starts. */
  readonly snapshot: () => AgentRankStatus;
}

/** Coalesces status changes of one rank into writes to the sink. */
export class RankStatusWriter {
  private dirty = false;
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private urgent = false;
  private lastWriteMs = -Infinity;
  private closed = false;

  constructor(private readonly o: RankStatusWriterOptions) {}

  /** The status changed: write it within the interval. */
  mark(): void {
    this.dirty = true;
    if (this.timer || this.inFlight || this.closed) return;
    const wait = this.lastWriteMs + this.o.intervalMs - this.o.clock.nowMs();
    if (wait <= 0) this.write();
    else
      this.timer = this.o.clock.setTimer(() => {
        this.timer = undefined;
        this.write();
      }, wait);
  }

  /** Writes now (a finished profile should not wait for the interval), or right after the write in flight. */
  flush(): void {
    this.clearTimer();
    this.dirty = true;
    if (this.inFlight) this.urgent = true;
    else this.write();
  }

  /** No more writes (the rank is gone or the agent stopped). */
  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) this.o.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private write(): void {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    this.inFlight = true;
    this.lastWriteMs = this.o.clock.nowMs();
    this.o.sink.write(this.o.rank, this.o.snapshot()).then(
      () => {
        this.inFlight = false;
        if (this.urgent) {
          this.urgent = false;
          this.write();
        } else if (this.dirty) this.mark();
      },
      (err: unknown) => {
        this.inFlight = false;
        this.dirty = true;
        this.o.logger.warn('Failed to write rank status; will retry', { namespace: this.o.rank.namespace, rank: this.o.rank.name, error: (err as Error).message });
        this.mark();
      },
    );
  }
}
