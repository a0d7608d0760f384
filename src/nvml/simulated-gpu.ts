// A GPU simulated from a measured stage profile: computation time and energy per SM clock come from the
// profile, the energy counter integrates power over simulated time. The simulator's workers drive it
// through runComputation(); the agent drives it through the same Gpu interface as real hardware.
import type { Instruction, StageProfile } from '../api/planner-types.ts';
import { NvmlError, NvmlNotSupportedError, NVML_RETURN_CODES } from './errors.ts';
import type { ClockEventReason, Gpu, GpuProvider } from './gpu.ts';
import type { SimTime } from './sim-clock.ts';

export interface SimulatedGpuOptions {
  readonly index: number;
  readonly uuid: string;
  readonly name?: string;
  /** Measured time and energy per (stage, instruction, clock). */
  readonly profile: StageProfile;
  /** The stage runComputation() uses when none is given. */
  readonly defaultStage?: number;
  readonly time: SimTime;
  /** Supported SM clocks; default: every clock in the profile. */
  readonly graphicsClocksMhz?: readonly number[];
  /** Supported memory clocks; default [1593] (A100 HBM2e). */
  readonly memoryClocksMhz?: readonly number[];
  /** False makes memory clock locking throw NvmlNotSupportedError (as on many consumer parts). */
  readonly memoryClockLockSupported?: boolean;
  /** Power while no computation runs (W); default: the profile's blocking power, else 80 W. */
  readonly blockingPowerWatts?: number;
}

interface Busy {
  readonly startSeconds: number;
  readonly endSeconds: number;
  readonly powerWatts: number;
}

interface Curve {
  /** Descending profiled clocks and their time/energy. */
  readonly frequenciesMhz: number[];
  readonly timesSeconds: number[];
  readonly energiesJoules: number[];
}

/** A computation the simulated GPU ran: when it starts and ends (simulated s) and its energy (J). */
export interface SimulatedComputation {
  readonly startSeconds: number;
  readonly durationSeconds: number;
  readonly energyJoules: number;
  readonly frequencyMhz: number;
}

/** A Gpu whose work and energy follow a measured StageProfile. */
export class SimulatedGpu implements Gpu {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly defaultStage: number;
  private readonly time: SimTime;
  private readonly curves = new Map<string, Curve>();
  private readonly graphicsClocks: readonly number[];
  private readonly memoryClocks: readonly number[];
  private readonly memoryLockSupported: boolean;
  private readonly blockingPowerWatts: number;
  private lockedMaxMhz: number | undefined;
  private lockedMemoryMhz: number | undefined;
  private slowdownFactor = 1;
  private throttleReasons: readonly ClockEventReason[] = [];
  private energyJoulesAccounted = 0;
  private accountedUntilSeconds: number;
  /** Queued or running computations, in order (a CUDA stream: each starts when the previous ends). */
  private busy: Busy[] = [];

  constructor(options: SimulatedGpuOptions) {
    this.index = options.index;
    this.uuid = options.uuid;
    this.name = options.name ?? 'Simulated GPU';
    this.defaultStage = options.defaultStage ?? 0;
    this.time = options.time;
    for (const m of options.profile.measurements) {
      const key = `${m.stage}|${m.instruction}`;
      let curve = this.curves.get(key);
      if (curve === undefined) {
        curve = { frequenciesMhz: [], timesSeconds: [], energiesJoules: [] };
        this.curves.set(key, curve);
      }
      curve.frequenciesMhz.push(m.frequencyMhz);
      curve.timesSeconds.push(m.timeSeconds);
      curve.energiesJoules.push(m.energyJoules);
    }
    for (const [key, c] of this.curves) {
      const order = c.frequenciesMhz.map((_, i) => i).sort((a, b) => c.frequenciesMhz[b]! - c.frequenciesMhz[a]!);
      this.curves.set(key, {
        frequenciesMhz: order.map((i) => c.frequenciesMhz[i]!),
        timesSeconds: order.map((i) => c.timesSeconds[i]!),
        energiesJoules: order.map((i) => c.energiesJoules[i]!),
      });
    }
    const profiled = [...new Set(options.profile.measurements.map((m) => m.frequencyMhz))];
    this.graphicsClocks = [...(options.graphicsClocksMhz ?? profiled)].sort((a, b) => b - a);
    if (this.graphicsClocks.length === 0) throw new RangeError('SimulatedGpu: the profile has no clocks');
    this.memoryClocks = [...(options.memoryClocksMhz ?? [1593])].sort((a, b) => b - a);
    this.memoryLockSupported = options.memoryClockLockSupported ?? true;
    this.blockingPowerWatts = options.blockingPowerWatts ?? options.profile.blockingPowerWatts ?? 80;
    this.accountedUntilSeconds = this.time.nowSeconds();
  }

  supportedMemoryClocksMhz(): readonly number[] {
    return this.memoryClocks;
  }

  supportedGraphicsClocksMhz(memoryClockMhz: number): readonly number[] {
    if (!this.memoryClocks.includes(memoryClockMhz)) {
      throw new NvmlError('nvmlDeviceGetSupportedGraphicsClocks', NVML_RETURN_CODES.NVML_ERROR_INVALID_ARGUMENT, 'Invalid Argument');
    }
    return this.graphicsClocks;
  }

  setLockedGpuClocksMhz(minMhz: number, maxMhz: number): void {
    if (!this.graphicsClocks.includes(minMhz) || !this.graphicsClocks.includes(maxMhz) || minMhz > maxMhz) {
      throw new NvmlError('nvmlDeviceSetGpuLockedClocks', NVML_RETURN_CODES.NVML_ERROR_INVALID_ARGUMENT, 'Invalid Argument');
    }
    this.lockedMaxMhz = maxMhz;
  }

  resetLockedGpuClocks(): void {
    this.lockedMaxMhz = undefined;
  }

  setLockedMemoryClocksMhz(minMhz: number, maxMhz: number): void {
    if (!this.memoryLockSupported) throw new NvmlNotSupportedError('nvmlDeviceSetMemoryLockedClocks');
    if (!this.memoryClocks.includes(minMhz) || !this.memoryClocks.includes(maxMhz) || minMhz > maxMhz) {
      throw new NvmlError('nvmlDeviceSetMemoryLockedClocks', NVML_RETURN_CODES.NVML_ERROR_INVALID_ARGUMENT, 'Invalid Argument');
    }
    this.lockedMemoryMhz = maxMhz;
  }

  resetLockedMemoryClocks(): void {
    if (!this.memoryLockSupported) throw new NvmlNotSupportedError('nvmlDeviceResetMemoryLockedClocks');
    this.lockedMemoryMhz = undefined;
  }

  /** The locked SM clock, or undefined when the driver's default policy is in effect. */
  lockedGpuClockMhz(): number | undefined {
    return this.lockedMaxMhz;
  }

  /** The locked memory clock, or undefined when not locked. */
  lockedMemoryClockMhz(): number | undefined {
    return this.lockedMemoryMhz;
  }

  totalEnergyMillijoules(): number {
    this.account(this.time.nowSeconds());
    return Math.floor(this.energyJoulesAccounted * 1000);
  }

  powerMilliwatts(): number {
    const now = this.time.nowSeconds();
    this.account(now);
    const current = this.busy.find((b) => b.startSeconds <= now && now < b.endSeconds);
    return Math.round((current?.powerWatts ?? this.blockingPowerWatts) * 1000);
  }

  smClockMhz(): number {
    return this.lockedMaxMhz ?? this.graphicsClocks[0]!;
  }

  clockEventReasons(): readonly ClockEventReason[] {
    return this.throttleReasons;
  }

  /**
   * Makes every computation `factor` times slower (same energy per second of work: power unchanged, so
   * energy grows by `factor`) and reports `reasons` — a thermally throttled straggler. 1 restores it.
   */
  setSlowdown(factor: number, reasons: readonly ClockEventReason[] = factor > 1 ? ['HwThermalSlowdown'] : []): void {
    if (!(factor >= 1)) throw new RangeError(`setSlowdown: expected factor ≥ 1, got ${factor}`);
    this.slowdownFactor = factor;
    this.throttleReasons = reasons;
  }

  /**
   * The profile's (time, energy) of one computation at the effective clock: the highest profiled clock
   * ≤ the locked clock (the lowest profiled clock if none is ≤), or the highest when unlocked.
   */
  costAt(instruction: Instruction, stage = this.defaultStage): { frequencyMhz: number; timeSeconds: number; energyJoules: number } {
    const curve = this.curves.get(`${stage}|${instruction}`);
    if (curve === undefined) throw new RangeError(`SimulatedGpu ${this.uuid}: the profile has no ${instruction} rows for stage ${stage}`);
    const locked = this.lockedMaxMhz ?? Infinity;
    let i = curve.frequenciesMhz.findIndex((f) => f <= locked);
    if (i === -1) i = curve.frequenciesMhz.length - 1;
    return {
      frequencyMhz: curve.frequenciesMhz[i]!,
      timeSeconds: curve.timesSeconds[i]! * this.slowdownFactor,
      energyJoules: curve.energiesJoules[i]! * this.slowdownFactor,
    };
  }

  /**
   * Launches one computation at the current clock and returns its duration (simulated s). Computations
   * run one after another: one launched while another runs starts when that one ends. The energy
   * counter charges the profile's energy over the computation and blocking power outside computations.
   */
  runComputation(instruction: Instruction, stage = this.defaultStage): number {
    return this.launch(instruction, stage).durationSeconds;
  }

  /** Like runComputation(), with the start time, energy and effective clock. */
  launch(instruction: Instruction, stage = this.defaultStage): SimulatedComputation {
    const now = this.time.nowSeconds();
    this.account(now);
    const cost = this.costAt(instruction, stage);
    const last = this.busy[this.busy.length - 1];
    const start = Math.max(now, last?.endSeconds ?? now);
    this.busy.push({ startSeconds: start, endSeconds: start + cost.timeSeconds, powerWatts: cost.energyJoules / cost.timeSeconds });
    return { startSeconds: start, durationSeconds: cost.timeSeconds, energyJoules: cost.energyJoules, frequencyMhz: cost.frequencyMhz };
  }

  /** Integrates power up to `now`: computation power inside busy intervals, blocking power elsewhere. */
  private account(now: number): void {
    let t = this.accountedUntilSeconds;
    if (now <= t) return;
    let energy = 0;
    while (t < now) {
      const b = this.busy[0];
      if (b === undefined || now <= b.startSeconds) {
        energy += (now - t) * this.blockingPowerWatts;
        t = now;
      } else if (t < b.startSeconds) {
        energy += (b.startSeconds - t) * this.blockingPowerWatts;
        t = b.startSeconds;
      } else {
        const until = Math.min(now, b.endSeconds);
        energy += (until - t) * b.powerWatts;
        t = until;
        if (until >= b.endSeconds) this.busy.shift();
      }
    }
    this.energyJoulesAccounted += energy;
    this.accountedUntilSeconds = now;
  }
}

/** A GpuProvider over simulated GPUs. */
export class SimulatedGpuProvider implements GpuProvider {
  readonly gpus: readonly SimulatedGpu[];
  constructor(gpus: readonly SimulatedGpu[]) {
    this.gpus = gpus;
  }

  /** `count` GPUs with UUIDs `GPU-sim-<prefix>-<i>` sharing one profile and time source. */
  static fromProfile(count: number, profile: StageProfile, time: SimTime, uuidPrefix = 'node', defaultStage = 0): SimulatedGpuProvider {
    const gpus: SimulatedGpu[] = [];
    for (let i = 0; i < count; i++) {
      gpus.push(new SimulatedGpu({ index: i, uuid: `GPU-sim-${uuidPrefix}-${i}`, profile, time, defaultStage }));
    }
    return new SimulatedGpuProvider(gpus);
  }

  close(): void {}
}
