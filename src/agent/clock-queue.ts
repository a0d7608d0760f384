// One serial command queue per GPU: applies an SM clock only when it changes, measures how long the NVML
// call took, and reports every change. The Gpu interface is synchronous, so commands on one GPU never
// overlap and the queue needs no locking; each command runs to completion before the next message.
import { NvmlNotSupportedError } from '../nvml/errors.ts';
import type { Gpu } from '../nvml/gpu.ts';
import type { AgentLogger } from './types.ts';
import { silentLogger } from './types.ts';

/** One applied clock change; `undefined` means "reset to the driver default". */
export interface ClockChange {
  readonly gpuUuid: string;
  readonly gpuIndex: number;
  readonly fromMhz: number | undefined;
  readonly toMhz: number | undefined;
  /** Duration of the NVML call (s). */
  readonly latencySeconds: number;
}

export interface ClockQueueHooks {
  onChange?(change: ClockChange): void;
  onError?(gpuUuid: string, operation: string, error: unknown): void;
}

/** The clock state and commands of one GPU. */
export class GpuClockQueue {
  readonly gpu: Gpu;
  /** Supported SM clocks at the highest memory clock, highest first. */
  readonly graphicsClocksMhz: readonly number[];
  readonly maxMemoryClockMhz: number;
  private lockedMhz: number | undefined;
  /** Unknown until the first command: locked clocks may survive an agent restart. */
  private stateKnown = false;
  private memoryLockSupported = true;
  private memoryPinned = false;
  changes = 0;
  skipped = 0;
  errors = 0;

  constructor(
    gpu: Gpu,
    private readonly hooks: ClockQueueHooks = {},
    private readonly logger: AgentLogger = silentLogger,
  ) {
    this.gpu = gpu;
    const memory = gpu.supportedMemoryClocksMhz();
    this.maxMemoryClockMhz = Math.max(...memory);
    this.graphicsClocksMhz = [...gpu.supportedGraphicsClocksMhz(this.maxMemoryClockMhz)].sort((a, b) => b - a);
  }

  /** The SM clock this agent last locked, or undefined when reset. */
  get lockedClockMhz(): number | undefined {
    return this.lockedMhz;
  }

  /** The highest supported clock ≤ `mhz` (the lowest supported clock when none is). */
  snap(mhz: number): number {
    for (const f of this.graphicsClocksMhz) if (f <= mhz) return f;
    return this.graphicsClocksMhz[this.graphicsClocksMhz.length - 1]!;
  }

  /** Locks the SM clock to `mhz` (snapped to a supported clock); a no-op when already there. Returns whether NVML was called. */
  setSmClockMhz(mhz: number): boolean {
    const target = this.snap(mhz);
    if (this.stateKnown && this.lockedMhz === target) {
      this.skipped++;
      return false;
    }
    const t0 = process.hrtime.bigint();
    try {
      this.gpu.setLockedGpuClocksMhz(target, target);
    } catch (err) {
      this.errors++;
      this.hooks.onError?.(this.gpu.uuid, 'setLockedGpuClocks', err);
      throw err;
    }
    this.record(target, t0);
    return true;
  }

  /** Returns the SM clock (and a pinned memory clock) to the driver default. `force` calls NVML even if already reset. */
  reset(force = false): boolean {
    let called = false;
    if (force || !this.stateKnown || this.lockedMhz !== undefined) {
      const t0 = process.hrtime.bigint();
      try {
        this.gpu.resetLockedGpuClocks();
      } catch (err) {
        this.errors++;
        this.hooks.onError?.(this.gpu.uuid, 'resetLockedGpuClocks', err);
        throw err;
      }
      this.record(undefined, t0);
      called = true;
    }
    if (this.memoryLockSupported && (force || this.memoryPinned)) {
      try {
        this.gpu.resetLockedMemoryClocks();
      } catch (err) {
        if (err instanceof NvmlNotSupportedError) this.memoryLockSupported = false;
        else {
          this.errors++;
          this.hooks.onError?.(this.gpu.uuid, 'resetLockedMemoryClocks', err);
        }
      }
      this.memoryPinned = false;
    }
    return called;
  }

  /** Pins the memory clock to its maximum where the GPU supports it; remembers "unsupported". */
  pinMemoryClockMax(): void {
    if (!this.memoryLockSupported || this.memoryPinned) return;
    try {
      this.gpu.setLockedMemoryClocksMhz(this.maxMemoryClockMhz, this.maxMemoryClockMhz);
      this.memoryPinned = true;
    } catch (err) {
      if (err instanceof NvmlNotSupportedError) {
        this.memoryLockSupported = false;
        this.logger.info('Memory clock locking is not supported; left at default', { gpu: this.gpu.index, UUID: this.gpu.uuid });
        return;
      }
      this.errors++;
      this.hooks.onError?.(this.gpu.uuid, 'setLockedMemoryClocks', err);
    }
  }

  private record(to: number | undefined, t0: bigint): void {
    const latencySeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const from = this.stateKnown ? this.lockedMhz : undefined;
    this.lockedMhz = to;
    this.stateKnown = true;
    this.changes++;
    const change: ClockChange = { gpuUuid: this.gpu.uuid, gpuIndex: this.gpu.index, fromMhz: from, toMhz: to, latencySeconds };
    this.logger.debug('Changed SM clock', { gpu: this.gpu.index, UUID: this.gpu.uuid, fromMhz: from ?? 'default', toMhz: to ?? 'default', latencySeconds });
    this.hooks.onChange?.(change);
  }
}
