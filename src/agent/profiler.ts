// The profiling sweep of one rank: runs the training iterations at each SM clock from high to low,
// measures every computation's time and energy from the energy counter (interpolated at computation
// boundaries) and the blocking power between computations, and yields the stage profile rows.
import type { Instruction, ProfileMeasurement } from '../api/planner-types.ts';
import { measurementsToCsv } from '../planner/profile.ts';
import type { ProfilingSweepSpec, RankProfileResult } from './types.ts';

/** Energy rising this many consecutive clocks (past the first third of the sweep) stops it early. */
export const EARLY_STOP_RISES = 5;

/**
 * The clocks to sweep, highest first: supported clocks within the bounds, at least `clockStrideMhz` apart,
 * plus the clock just below the highest (the top clocks often differ from the trend: boost, power caps) and
 * the lowest one (so a fitted model never extrapolates); or exactly the supported ones among
 * `frequenciesMhz` when the spec lists clocks.
 */
export function sweepClocksMhz(supportedMhz: readonly number[], spec: ProfilingSweepSpec): number[] {
  const lo = spec.minFrequencyMhz ?? -Infinity;
  const hi = spec.maxFrequencyMhz ?? Infinity;
  const candidates = [...new Set(supportedMhz)].filter((f) => f >= lo && f <= hi).sort((a, b) => b - a);
  if (spec.frequenciesMhz !== undefined) {
    const wanted = new Set(spec.frequenciesMhz);
    return candidates.filter((f) => wanted.has(f));
  }
  const out: number[] = [];
  for (const f of candidates) {
    const last = out[out.length - 1];
    if (last === undefined || last - f >= Math.max(spec.clockStrideMhz, 1e-9)) out.push(f);
  }
  const extra = [candidates[1], candidates[candidates.length - 1]].filter((f): f is number => f !== undefined && !out.includes(f));
  return [...out, ...extra].sort((a, b) => b - a);
}

/**
 * Piecewise-linear energy counter: a point is kept only when the value changed, so a counter that
 * refreshes coarsely is interpolated between refreshes rather than read as a staircase.
 */
export class EnergyTimeline {
  private readonly t: number[] = [];
  private readonly e: number[] = [];

  push(timeMs: number, energyMj: number): void {
    const n = this.e.length;
    if (n > 0 && this.e[n - 1] === energyMj) return;
    if (n > 0 && timeMs <= this.t[n - 1]!) {
      this.e[n - 1] = Math.max(this.e[n - 1]!, energyMj);
      return;
    }
    this.t.push(timeMs);
    this.e.push(energyMj);
  }

  /** Energy (mJ) at `timeMs`, linearly interpolated; clamped outside the samples. */
  at(timeMs: number): number {
    const n = this.t.length;
    if (n === 0) return 0;
    if (timeMs <= this.t[0]!) return this.e[0]!;
    if (timeMs >= this.t[n - 1]!) return this.e[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (this.t[mid]! <= timeMs) lo = mid;
      else hi = mid;
    }
    const t0 = this.t[lo]!;
    const t1 = this.t[hi]!;
    return this.e[lo]! + ((this.e[hi]! - this.e[lo]!) * (timeMs - t0)) / (t1 - t0);
  }

  /** Drops points before `timeMs` except the last one before it (keeps interpolation valid). */
  trimBefore(timeMs: number): void {
    let k = 0;
    while (k + 1 < this.t.length && this.t[k + 1]! <= timeMs) k++;
    if (k > 0) {
      this.t.splice(0, k);
      this.e.splice(0, k);
    }
  }
}

/** A computation of the iteration in flight: open from its `begin` until its `end` (or the next `begin`). */
export type OpenComputation<T> = T & { readonly beginMs: number; endMs: number | undefined };

/** The computations of the iteration in flight, as the training loop's begin/end messages delimit them. */
export class IterationComputations<T extends object> {
  private list: OpenComputation<T>[] = [];

  get items(): readonly OpenComputation<T>[] {
    return this.list;
  }

  /** Opens a computation, closing the previous one if no `end` was sent for it. */
  begin(item: T, nowMs: number): void {
    const last = this.list[this.list.length - 1];
    if (last !== undefined && last.endMs === undefined) last.endMs = nowMs;
    this.list.push({ ...item, beginMs: nowMs, endMs: undefined });
  }

  /** Closes the open computation; false when none was open. */
  end(nowMs: number): boolean {
    const last = this.list[this.list.length - 1];
    if (last === undefined || last.endMs !== undefined) return false;
    last.endMs = nowMs;
    return true;
  }

  /** The iteration's computations; the next iteration starts empty. */
  take(): OpenComputation<T>[] {
    const out = this.list;
    this.list = [];
    return out;
  }
}

type Computation = OpenComputation<{ readonly instruction: Instruction }>;

interface ClockAccumulator {
  timeSeconds: Record<Instruction, number>;
  energyJoules: Record<Instruction, number>;
  count: Record<Instruction, number>;
  iterationEnergyJoules: number;
  iterations: number;
}

/** Side effects of the sweep: clock commands and the energy counter (summed over the rank's GPUs). */
export interface SweepDriver {
  setClockMhz(mhz: number): void;
  resetClock(): void;
  energyMillijoules(): number;
}

/** Where a sweep stands. */
export interface SweepProgress {
  readonly clocksDone: number;
  readonly clocksPlanned: number;
  readonly currentClockMhz: number | undefined;
  readonly done: boolean;
}

/** A profiling run of one rank driven by the training loop's messages (the clock sweep or a refinement round). */
export interface Sweep {
  readonly clocksMhz: readonly number[];
  readonly done: boolean;
  readonly profile: RankProfileResult | undefined;
  start(): void;
  progress(): SweepProgress;
  begin(instruction: Instruction, nowMs: number): void;
  end(nowMs: number): void;
  /** Ends an iteration; returns true when the run finished with it. */
  stepEnd(nowMs: number): boolean;
}

/** Wall time and energy of a profiling run, from its first sample to its end. */
export class SweepCost {
  private firstMs: number | undefined;
  private firstMj = 0;
  private lastMs = 0;
  private lastMj = 0;

  sample(nowMs: number, energyMj: number): void {
    if (this.firstMs === undefined) {
      this.firstMs = nowMs;
      this.firstMj = energyMj;
    }
    this.lastMs = Math.max(this.lastMs, nowMs);
    this.lastMj = Math.max(this.lastMj, energyMj);
  }

  get seconds(): number {
    return this.firstMs === undefined ? 0 : (this.lastMs - this.firstMs) / 1000;
  }

  get energyJoules(): number {
    return this.firstMs === undefined ? 0 : (this.lastMj - this.firstMj) / 1000;
  }
}

/**
 * A profiling sweep driven by the training loop's messages. Call begin/end/stepEnd with the message
 * time; the sweep sets clocks through the driver and returns the profile once done.
 */
export class ProfileSweep implements Sweep {
  readonly clocksMhz: readonly number[];
  private clockIndex = 0;
  private iterationInClock = 0;
  private readonly computations = new IterationComputations<{ readonly instruction: Instruction }>();
  private acc: ClockAccumulator = ProfileSweep.emptyAccumulator();
  private readonly rows: ProfileMeasurement[] = [];
  private readonly iterationEnergyByClock: number[] = [];
  private rises = 0;
  private blockingEnergyJoules = 0;
  private blockingSeconds = 0;
  private readonly timeline = new EnergyTimeline();
  private result: RankProfileResult | undefined;
  private started = false;
  private readonly cost = new SweepCost();

  constructor(
    private readonly spec: ProfilingSweepSpec,
    private readonly stage: number,
    supportedClocksMhz: readonly number[],
    private readonly driver: SweepDriver,
  ) {
    if (!(spec.iterationsPerClock >= 1)) throw new RangeError(`iterationsPerClock: expected an integer ≥ 1, got ${spec.iterationsPerClock}`);
    if (!(spec.warmupIterations >= 0)) throw new RangeError(`warmupIterations: expected an integer ≥ 0, got ${spec.warmupIterations}`);
    this.clocksMhz = sweepClocksMhz(supportedClocksMhz, spec);
    if (this.clocksMhz.length === 0) {
      throw new RangeError(
        spec.frequenciesMhz !== undefined
          ? `profiling.frequenciesMhz: none of ${spec.frequenciesMhz.join(', ')} MHz is a supported clock within [minFrequencyMhz, maxFrequencyMhz] (supported: ${[...supportedClocksMhz].sort((a, b) => b - a).join(', ')})`
          : 'profiling: no supported clock lies within [minFrequencyMhz, maxFrequencyMhz]',
      );
    }
  }

  private static emptyAccumulator(): ClockAccumulator {
    return { timeSeconds: { forward: 0, backward: 0 }, energyJoules: { forward: 0, backward: 0 }, count: { forward: 0, backward: 0 }, iterationEnergyJoules: 0, iterations: 0 };
  }

  /** Sets the first clock (call when the rank's GPUs are known). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.driver.setClockMhz(this.clocksMhz[0]!);
  }

  get done(): boolean {
    return this.result !== undefined;
  }

  get profile(): RankProfileResult | undefined {
    return this.result;
  }

  progress(): SweepProgress {
    return {
      clocksDone: this.result ? this.clocksMhz.length : this.clockIndex,
      clocksPlanned: this.clocksMhz.length,
      currentClockMhz: this.result ? undefined : this.clocksMhz[this.clockIndex],
      done: this.result !== undefined,
    };
  }

  private sample(nowMs: number): void {
    const energyMj = this.driver.energyMillijoules();
    this.timeline.push(nowMs, energyMj);
    this.cost.sample(nowMs, energyMj);
  }

  begin(instruction: Instruction, nowMs: number): void {
    if (this.result || !this.started) return;
    this.sample(nowMs);
    this.computations.begin({ instruction }, nowMs);
  }

  end(nowMs: number): void {
    if (this.result || !this.started) return;
    if (this.computations.end(nowMs)) this.sample(nowMs);
  }

  /** Ends an iteration; returns true when the sweep finished with it. */
  stepEnd(nowMs: number): boolean {
    if (this.result || !this.started) return false;
    this.sample(nowMs);
    const comps = this.computations.take();
    const warm = this.iterationInClock < this.spec.warmupIterations;
    this.iterationInClock++;
    if (!warm && comps.length > 0) this.measure(comps, nowMs);
    this.timeline.trimBefore(nowMs);
    if (this.acc.iterations >= this.spec.iterationsPerClock) return this.nextClock();
    return false;
  }

  private measure(comps: Computation[], stepEndMs: number): void {
    const last = comps[comps.length - 1]!;
    if (last.endMs === undefined) last.endMs = stepEndMs;
    let iterationEnergy = 0;
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i]!;
      const end = c.endMs!;
      const energyJ = (this.timeline.at(end) - this.timeline.at(c.beginMs)) / 1000;
      this.acc.timeSeconds[c.instruction] += (end - c.beginMs) / 1000;
      this.acc.energyJoules[c.instruction] += energyJ;
      this.acc.count[c.instruction]++;
      iterationEnergy += energyJ;
      const next = comps[i + 1];
      if (next !== undefined && next.beginMs > end) {
        const gapJ = (this.timeline.at(next.beginMs) - this.timeline.at(end)) / 1000;
        this.blockingEnergyJoules += gapJ;
        this.blockingSeconds += (next.beginMs - end) / 1000;
        iterationEnergy += gapJ;
      }
    }
    this.acc.iterationEnergyJoules += iterationEnergy;
    this.acc.iterations++;
  }

  private nextClock(): boolean {
    const f = this.clocksMhz[this.clockIndex]!;
    for (const instruction of ['forward', 'backward'] as const) {
      const n = this.acc.count[instruction];
      if (n > 0) {
        this.rows.push({ stage: this.stage, instruction, frequencyMhz: f, timeSeconds: this.acc.timeSeconds[instruction] / n, energyJoules: this.acc.energyJoules[instruction] / n });
      }
    }
    const energy = this.acc.iterationEnergyJoules / this.acc.iterations;
    const prev = this.iterationEnergyByClock[this.iterationEnergyByClock.length - 1];
    this.iterationEnergyByClock.push(energy);
    this.rises = prev !== undefined && energy > prev ? this.rises + 1 : 0;
    this.clockIndex++;
    this.iterationInClock = 0;
    this.acc = ProfileSweep.emptyAccumulator();
    const pastFirstThird = this.clockIndex > this.clocksMhz.length / 3;
    const stopEarly = this.spec.earlyStop && pastFirstThird && this.rises >= EARLY_STOP_RISES;
    if (stopEarly || this.clockIndex >= this.clocksMhz.length) {
      this.finish(stopEarly);
      return true;
    }
    this.driver.setClockMhz(this.clocksMhz[this.clockIndex]!);
    return false;
  }

  private finish(stoppedEarly: boolean): void {
    const measurements = [...this.rows];
    const base = { measurements, csv: measurementsToCsv(measurements), stoppedEarly, round: this.spec.round ?? 1, seconds: this.cost.seconds, energyJoules: this.cost.energyJoules };
    this.result = this.blockingSeconds > 0 ? { ...base, blockingPowerWatts: this.blockingEnergyJoules / this.blockingSeconds } : base;
    this.driver.resetClock();
  }
}
