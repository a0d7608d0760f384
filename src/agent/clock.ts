// Time for the agent: wall time and timers behind one small interface so tests drive time by hand.

export type TimerHandle = { readonly id: number };

/** Milliseconds since an arbitrary origin, and one-shot timers. */
export interface AgentClock {
  nowMs(): number;
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The process clock (performance.now); timers are unref'd so they never keep the process alive. */
export const systemClock: AgentClock = (() => {
  const timers = new Map<number, NodeJS.Timeout>();
  let next = 1;
  return {
    nowMs: () => performance.now(),
    setTimer(fn, delayMs) {
      const id = next++;
      const t = setTimeout(() => {
        timers.delete(id);
        fn();
      }, delayMs);
      t.unref();
      timers.set(id, t);
      return { id };
    },
    clearTimer(handle) {
      const t = timers.get(handle.id);
      if (t !== undefined) clearTimeout(t);
      timers.delete(handle.id);
    },
  };
})();

/** A clock that moves only on advance(); due timers fire in order during advance(). */
export class ManualClock implements AgentClock {
  private ms: number;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(startMs = 0) {
    this.ms = startMs;
  }

  nowMs(): number {
    return this.ms;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.ms + Math.max(0, delayMs), fn });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  /** Moves time forward by `ms`, firing timers that come due (earliest first). */
  advance(ms: number): void {
    const until = this.ms + ms;
    for (;;) {
      let dueId: number | undefined;
      let dueAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at <= until && t.at < dueAt) {
          dueAt = t.at;
          dueId = id;
        }
      }
      if (dueId === undefined) break;
      const timer = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.ms = Math.max(this.ms, timer.at);
      timer.fn();
    }
    this.ms = until;
  }

  /** Number of pending timers (for tests asserting that nothing is left behind). */
  pendingTimers(): number {
    return this.timers.size;
  }
}
