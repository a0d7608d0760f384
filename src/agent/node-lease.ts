// The agent's lease on the API server: every contact renews it; past it, plans may be stale, so the agent
// fails open (every GPU back to default clocks) until the next contact.
import type { AgentClock, TimerHandle } from './clock.ts';

export interface NodeLeaseHandlers {
  /** The lease ran out: reset what the plans set. */
  lost(): void;
  /** Contact came back after the lease ran out: enforce plans again. */
  regained(): void;
}

/** A renewable lease; `leaseMs` of 0 disables expiry (a standalone agent has no API server). */
export class ApiServerLease {
  private timer: TimerHandle | undefined;
  private expired = false;
  private stopped = false;

  constructor(
    private readonly clock: AgentClock,
    readonly leaseMs: number,
    private readonly handlers: NodeLeaseHandlers,
  ) {}

  /** False from the moment the lease ran out until the next contact. */
  get valid(): boolean {
    return !this.expired;
  }

  /** Renews the lease (a successful list, watch event or patch). */
  contact(): void {
    if (this.stopped) return;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = this.leaseMs > 0 ? this.clock.setTimer(() => this.expire(), this.leaseMs) : undefined;
    if (this.expired) {
      this.expired = false;
      this.handlers.regained();
    }
  }

  /** Ends the lease now (also what the timer does). */
  expire(): void {
    if (this.expired || this.stopped) return;
    this.expired = true;
    this.handlers.lost();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
