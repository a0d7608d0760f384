// A GPU emulated together with a real training process on CPU: the agent locks its clock into a file the
// training process reads, and reads the energy counter the training process keeps (its computations' time
// and power at that clock). The layout is shared with EmulatedGpu in clients/python/examples/torch_pipeline.py.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { ClockEventReason, Gpu } from '../../src/nvml/gpu.ts';

const RECORD_BYTES = 40;

/** CLOCK_MONOTONIC in seconds, the clock Python's time.monotonic() reads on Linux. */
export function monotonicSeconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

export interface EmulatedGpuOptions {
  readonly index: number;
  readonly uuid: string;
  /** File prefix: `<prefix>.clock` and `<prefix>.energy` are created here. */
  readonly prefix: string;
  /** Supported SM clocks (MHz), any order. */
  readonly graphicsClocksMhz: readonly number[];
  /** Power while no computation runs (W). */
  readonly idlePowerWatts: number;
}

/** One emulated GPU; every call is a small pread/pwrite, as cheap as an NVML call. */
export class EmulatedTrainingGpu implements Gpu {
  readonly index: number;
  readonly uuid: string;
  readonly name = 'Emulated GPU (CPU training process)';
  private readonly clocks: readonly number[];
  private readonly clockFd: number;
  private readonly energyFd: number;
  private locked: number | undefined;
  private last = { energyJoules: 0, sinceSeconds: monotonicSeconds(), powerWatts: 0, throttled: false };
  /** Every clock the agent locked, in order (0 = reset), for checking what the plan applied. */
  readonly clockLog: number[] = [];

  constructor(o: EmulatedGpuOptions) {
    this.index = o.index;
    this.uuid = o.uuid;
    this.clocks = [...o.graphicsClocksMhz].sort((a, b) => b - a);
    this.clockFd = openSync(`${o.prefix}.clock`, 'w+');
    this.energyFd = openSync(`${o.prefix}.energy`, 'w+');
    this.writeClock(0);
    this.last = { energyJoules: 0, sinceSeconds: monotonicSeconds(), powerWatts: o.idlePowerWatts, throttled: false };
    const record = Buffer.alloc(RECORD_BYTES);
    const values = [0, this.last.sinceSeconds, o.idlePowerWatts, 0];
    values.forEach((v, i) => record.writeDoubleLE(v, i * 8));
    record.writeDoubleLE(values.reduce((a, b) => a + b, 0), 32);
    writeSync(this.energyFd, record, 0, RECORD_BYTES, 0);
  }

  supportedMemoryClocksMhz(): readonly number[] {
    return [1593];
  }
  supportedGraphicsClocksMhz(): readonly number[] {
    return this.clocks;
  }
  setLockedGpuClocksMhz(minMhz: number, maxMhz: number): void {
    if (!this.clocks.includes(minMhz) || !this.clocks.includes(maxMhz) || minMhz > maxMhz) throw new RangeError(`unsupported clock ${minMhz}–${maxMhz} MHz`);
    this.locked = maxMhz;
    this.writeClock(maxMhz);
    this.clockLog.push(maxMhz);
  }
  resetLockedGpuClocks(): void {
    this.locked = undefined;
    this.writeClock(0);
    this.clockLog.push(0);
  }
  setLockedMemoryClocksMhz(): void {}
  resetLockedMemoryClocks(): void {}
  totalEnergyMillijoules(): number {
    const r = this.read();
    return Math.floor((r.energyJoules + r.powerWatts * Math.max(0, monotonicSeconds() - r.sinceSeconds)) * 1000);
  }
  powerMilliwatts(): number {
    return Math.round(this.read().powerWatts * 1000);
  }
  smClockMhz(): number {
    return this.locked ?? this.clocks[0]!;
  }
  clockEventReasons(): readonly ClockEventReason[] {
    return this.read().throttled ? ['HwThermalSlowdown'] : [];
  }
  /** The locked clock, or undefined when unlocked. */
  lockedGpuClockMhz(): number | undefined {
    return this.locked;
  }
  close(): void {
    closeSync(this.clockFd);
    closeSync(this.energyFd);
  }

  private writeClock(mhz: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(mhz, 0);
    writeSync(this.clockFd, b, 0, 4, 0);
  }

  /** The training process's last record; a torn read (checksum mismatch) keeps the previous one. */
  private read(): { energyJoules: number; sinceSeconds: number; powerWatts: number; throttled: boolean } {
    const b = Buffer.alloc(RECORD_BYTES);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (readSync(this.energyFd, b, 0, RECORD_BYTES, 0) !== RECORD_BYTES) continue;
      const v = [0, 1, 2, 3].map((i) => b.readDoubleLE(i * 8));
      const sum = v.reduce((a, c) => a + c, 0);
      if (Math.abs(sum - b.readDoubleLE(32)) > 1e-9 * Math.max(1, Math.abs(sum))) continue;
      this.last = { energyJoules: v[0]!, sinceSeconds: v[1]!, powerWatts: v[2]!, throttled: v[3]! > 0 };
      break;
    }
    return this.last;
  }
}
