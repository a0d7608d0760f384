// Recent iterations of a rank (wall time, energy, throttle reasons), bounded, for status and stragglers.
import type { ClockEventReason } from '../nvml/gpu.ts';

export const RECENT_ITERATIONS = 32;

export class IterationStats {
  readonly seconds: number[] = [];
  readonly energyJoules: number[] = [];
  private lastEnergyMj: number | undefined;
  private readonly reasons = new Set<ClockEventReason>();

  /** Records an iteration given the energy counter now (mJ, summed over the rank's GPUs). */
  record(iterationSeconds: number, energyNowMj: number, reasons: readonly ClockEventReason[]): number | undefined {
    const energyJ = this.lastEnergyMj === undefined ? undefined : (energyNowMj - this.lastEnergyMj) / 1000;
    this.lastEnergyMj = energyNowMj;
    this.seconds.push(iterationSeconds);
    if (this.seconds.length > RECENT_ITERATIONS) this.seconds.shift();
    if (energyJ !== undefined) {
      this.energyJoules.push(energyJ);
      if (this.energyJoules.length > RECENT_ITERATIONS) this.energyJoules.shift();
    }
    for (const r of reasons) this.reasons.add(r);
    return energyJ;
  }

  /** Restarts energy accounting (the GPU set or the plan changed). */
  resetEnergyBaseline(): void {
    this.lastEnergyMj = undefined;
  }

  throttleReasons(): ClockEventReason[] {
    return [...this.reasons];
  }

  /** Forgets every iteration (a new restart attempt: the old pods' iterations say nothing about the new ones). */
  clear(): void {
    this.seconds.length = 0;
    this.energyJoules.length = 0;
    this.lastEnergyMj = undefined;
    this.reasons.clear();
  }

  /** Forgets the reasons once reported, so status shows what happened since the last report. */
  clearReasons(): void {
    this.reasons.clear();
  }
}
