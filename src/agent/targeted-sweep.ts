// A refinement round of profiling: the controller names, per instruction, the clocks whose values a plan
// would otherwise take from the fitted model; the rank measures exactly those, one computation at a time.
// Clocks change per computation as under an Instruction plan, so one iteration measures several clocks and
// no warm-up iterations are spent; the first (partial) iteration is never measured.
import type { Instruction, ProfileMeasurement } from '../api/planner-types.ts';
import { measurementsToCsv } from '../planner/profile.ts';
import { EnergyTimeline, IterationComputations, SweepCost, type Sweep, type SweepDriver, type SweepProgress } from './profiler.ts';
import type { ProfilingSweepSpec, RankProfileResult } from './types.ts';

interface Target {
  readonly instruction: Instruction;
  readonly frequencyMhz: number;
  samples: number;
  timeSeconds: number;
  energyJoules: number;
}


/** The supported target clocks of `spec` within its bounds, per instruction, highest first. */
export function targetClocksMhz(supportedMhz: readonly number[], spec: ProfilingSweepSpec): Record<Instruction, number[]> {
  const lo = spec.minFrequencyMhz ?? -Infinity;
  const hi = spec.maxFrequencyMhz ?? Infinity;
  const supported = new Set(supportedMhz);
  const pick = (list: readonly number[] | undefined): number[] => [...new Set(list ?? [])].filter((f) => supported.has(f) && f >= lo && f <= hi).sort((a, b) => b - a);
  return { forward: pick(spec.targets?.forward), backward: pick(spec.targets?.backward) };
}

/** Measures each target (instruction, clock) on `iterationsPerClock` computations. */
export class TargetedSweep implements Sweep {
  readonly clocksMhz: readonly number[];
  private readonly targets: Target[];
  private readonly samplesPerTarget: number;
  private readonly computations = new IterationComputations<{ readonly target: Target | undefined }>();
  private measuring = false;
  private started = false;
  private result: RankProfileResult | undefined;
  private readonly timeline = new EnergyTimeline();
  private readonly cost = new SweepCost();

  constructor(
    private readonly spec: ProfilingSweepSpec,
    private readonly stage: number,
    supportedClocksMhz: readonly number[],
    private readonly driver: SweepDriver,
  ) {
    if (!(spec.iterationsPerClock >= 1)) throw new RangeError(`iterationsPerClock: expected an integer ≥ 1, got ${spec.iterationsPerClock}`);
    this.samplesPerTarget = spec.iterationsPerClock;
    const clocks = targetClocksMhz(supportedClocksMhz, spec);
    this.targets = (['forward', 'backward'] as const).flatMap((instruction) =>
      clocks[instruction].map((frequencyMhz) => ({ instruction, frequencyMhz, samples: 0, timeSeconds: 0, energyJoules: 0 })),
    );
    this.clocksMhz = [...new Set([...clocks.forward, ...clocks.backward])].sort((a, b) => b - a);
    if (this.targets.length === 0) {
      throw new RangeError(
        `profiling.targets: none of the target clocks is a supported clock within [minFrequencyMhz, maxFrequencyMhz] (supported: ${[...supportedClocksMhz].sort((a, b) => b - a).join(', ')})`,
      );
    }
  }

  start(): void {
    this.started = true;
  }

  get done(): boolean {
    return this.result !== undefined;
  }

  get profile(): RankProfileResult | undefined {
    return this.result;
  }

  progress(): SweepProgress {
    const complete = this.targets.filter((t) => t.samples >= this.samplesPerTarget).length;
    return { clocksDone: complete, clocksPlanned: this.targets.length, currentClockMhz: undefined, done: this.done };
  }

  private sample(nowMs: number): void {
    const energyMj = this.driver.energyMillijoules();
    this.timeline.push(nowMs, energyMj);
    if (this.measuring) this.cost.sample(nowMs, energyMj);
  }

  /** The target of `instruction` with the fewest samples that still needs one (counting those in flight). */
  private nextTarget(instruction: Instruction): Target | undefined {
    const pending = new Map<Target, number>();
    for (const c of this.computations.items) if (c.target !== undefined) pending.set(c.target, (pending.get(c.target) ?? 0) + 1);
    let best: Target | undefined;
    let bestCount = Infinity;
    for (const t of this.targets) {
      if (t.instruction !== instruction) continue;
      const count = t.samples + (pending.get(t) ?? 0);
      if (count < this.samplesPerTarget && count < bestCount) {
        best = t;
        bestCount = count;
      }
    }
    return best;
  }

  begin(instruction: Instruction, nowMs: number): void {
    if (this.result || !this.started) return;
    this.sample(nowMs);
    const target = this.measuring ? this.nextTarget(instruction) : undefined;
    if (target !== undefined) this.driver.setClockMhz(target.frequencyMhz);
    else if (this.measuring) this.driver.resetClock();
    this.computations.begin({ target }, nowMs);
  }

  end(nowMs: number): void {
    if (this.result || !this.started) return;
    if (this.computations.end(nowMs)) this.sample(nowMs);
  }

  stepEnd(nowMs: number): boolean {
    if (this.result || !this.started) return false;
    this.sample(nowMs);
    for (const c of this.computations.take()) {
      if (c.target === undefined) continue;
      const end = c.endMs ?? nowMs;
      c.target.samples++;
      c.target.timeSeconds += (end - c.beginMs) / 1000;
      c.target.energyJoules += (this.timeline.at(end) - this.timeline.at(c.beginMs)) / 1000;
    }
    this.timeline.trimBefore(nowMs);
    if (!this.measuring) {
      // Measuring starts at an iteration boundary: the iteration in flight when the round began is discarded.
      this.measuring = true;
      this.cost.sample(nowMs, this.driver.energyMillijoules());
      return false;
    }
    if (this.targets.every((t) => t.samples >= this.samplesPerTarget)) {
      this.finish();
      return true;
    }
    return false;
  }

  private finish(): void {
    const measurements: ProfileMeasurement[] = this.targets.map((t) => ({
      stage: this.stage,
      instruction: t.instruction,
      frequencyMhz: t.frequencyMhz,
      timeSeconds: t.timeSeconds / t.samples,
      energyJoules: t.energyJoules / t.samples,
    }));
    this.result = {
      measurements,
      csv: measurementsToCsv(measurements),
      stoppedEarly: false,
      round: this.spec.round ?? 1,
      seconds: this.cost.seconds,
      energyJoules: this.cost.energyJoules,
    };
    this.driver.resetClock();
  }
}
