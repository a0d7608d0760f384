// Simulated time for `perseus simulate`: a discrete-event clock that jumps from event to event but never runs
// ahead of wall time × timeScale, and that stands still while a worker holds it (waiting for the agent to
// act on a message), so computation times and energies follow the profile exactly whatever the CPU load.
import type { AgentClock, TimerHandle as AgentTimerHandle } from '../../agent/clock.ts';
import type { Clock, TimerHandle } from '../../kube/clock.ts';
import type { SimTime } from '../../nvml/sim-clock.ts';

interface Entry {
  readonly at: number;
  readonly seq: number;
  fn: (() => void) | undefined;
}

/** A binary min-heap on (at, seq). */
class EventHeap {
  private readonly items: Entry[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Entry | undefined {
    return this.items[0];
  }
  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  push(e: Entry): void {
    const h = this.items;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Entry | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Thrown into waits of a stopped clock or an aborted worker. */
export class SimulationStopped extends Error {
  override readonly name = 'SimulationStopped';
}

export class VirtualTime implements SimTime {
  private now = 0;
  private budget = 0;
  private lastWallMs: number;
  private readonly heap = new EventHeap();
  private seq = 0;
  private holds = 0;
  private running = false;
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  /** Virtual seconds the clock may run ahead of the events it has fired (one pacing slice). */
  private readonly leadSeconds: number;
  /** Wall-clock epoch (ms) that virtual time 0 maps to, for Kubernetes timestamps. */
  readonly epochMs: number;
  /** Events fired so far (observability). */
  fired = 0;

  constructor(
    readonly timeScale: number,
    private readonly wallMs: () => number = () => performance.now(),
  ) {
    if (!(timeScale > 0)) throw new RangeError(`timeScale: expected a number > 0, got ${timeScale}`);
    this.lastWallMs = wallMs();
    this.epochMs = Date.now();
    this.leadSeconds = timeScale * 0.05;
  }

  nowSeconds(): number {
    return this.now;
  }

  /** Runs `fn` at virtual time `atSeconds` (now if in the past). */
  at(atSeconds: number, fn: () => void): { cancel(): void } {
    const e: Entry = { at: Math.max(atSeconds, this.now), seq: this.seq++, fn };
    this.heap.push(e);
    this.kick();
    return { cancel: () => (e.fn = undefined) };
  }

  /** Resolves at virtual time `atSeconds`. */
  sleepUntil(atSeconds: number): Promise<void> {
    return new Promise((resolve) => this.at(atSeconds, resolve));
  }

  sleep(seconds: number): Promise<void> {
    return this.sleepUntil(this.now + seconds);
  }

  /** Stops time until the returned function is called (once). */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0) this.kick();
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastWallMs = this.wallMs();
    this.kick();
  }

  stop(): void {
    this.running = false;
    this.cancelScheduled();
  }

  private cancelScheduled(): void {
    if (this.scheduled !== undefined) {
      clearTimeout(this.scheduled as NodeJS.Timeout);
      clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = undefined;
    }
  }

  /** Schedules a pump turn soon (replacing a later timer). */
  private kick(): void {
    if (!this.running || this.holds > 0) return;
    this.cancelScheduled();
    this.scheduled = setImmediate(() => this.pump());
  }

  private pump(): void {
    this.scheduled = undefined;
    if (!this.running || this.holds > 0) return;
    const wall = this.wallMs();
    this.budget = Math.min(this.budget + ((wall - this.lastWallMs) / 1000) * this.timeScale, this.now + this.leadSeconds);
    this.lastWallMs = wall;
    let next = this.heap.peek();
    while (next !== undefined && next.fn === undefined) {
      this.heap.pop();
      next = this.heap.peek();
    }
    if (next !== undefined && next.at <= this.budget) {
      const t = next.at;
      const seqLimit = this.seq;
      this.now = Math.max(this.now, t);
      // Fire what is due at this instant (not what firing schedules), then let the woken code run.
      while (this.heap.peek() !== undefined && this.heap.peek()!.at <= t && this.heap.peek()!.seq < seqLimit) {
        const e = this.heap.pop()!;
        const fn = e.fn;
        e.fn = undefined;
        if (fn !== undefined) {
          this.fired++;
          fn();
        }
      }
      this.scheduled = setImmediate(() => this.pump());
      return;
    }
    this.now = Math.max(this.now, Math.min(this.budget, next?.at ?? Infinity));
    const waitMs = next === undefined ? 10 : Math.min(10, Math.max(1, ((next.at - this.budget) / this.timeScale) * 1000));
    this.scheduled = setTimeout(() => this.pump(), waitMs);
  }

  /** The node agent's clock on virtual time (ms). */
  readonly agentClock: AgentClock = (() => {
    const timers = new Map<number, { cancel(): void }>();
    let next = 1;
    return {
      nowMs: () => this.now * 1000,
      setTimer: (fn: () => void, delayMs: number): AgentTimerHandle => {
        const id = next++;
        timers.set(
          id,
          this.at(this.now + Math.max(0, delayMs) / 1000, () => {
            timers.delete(id);
            fn();
          }),
        );
        return { id };
      },
      clearTimer: (handle: AgentTimerHandle): void => {
        timers.get(handle.id)?.cancel();
        timers.delete(handle.id);
      },
    };
  })();

  /** The Kubernetes-side clock (epoch ms) on virtual time: the controller's cooldowns and deadlines are simulated seconds. */
  readonly kubeClock: Clock = {
    now: () => this.epochMs + this.now * 1000,
    after: (ms: number, fn: () => void): TimerHandle => this.at(this.now + Math.max(0, ms) / 1000, fn),
  };
}
