// Time behind an interface so tests drive timers and "now" without sleeping.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; the timer never keeps the process alive. */
  after(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told (tests). */
export class ManualClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  constructor(private ms = Date.parse('2025-01-01T00:00:00Z')) {}
  now(): number {
    return this.ms;
  }
  after(ms: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ at: this.ms + Math.max(0, ms), fn, id });
    return { cancel: () => (this.timers = this.timers.filter((t) => t.id !== id)) };
  }
  /** Advances time, firing due timers in order. */
  advance(ms: number): void {
    const target = this.ms + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (next === undefined || next.at > target) break;
      this.timers.shift();
      this.ms = next.at;
      next.fn();
    }
    this.ms = target;
  }
  get pendingTimers(): number {
    return this.timers.length;
  }
}
