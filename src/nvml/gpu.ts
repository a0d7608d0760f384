// The Gpu interface: everything the agent and the simulator do to a GPU goes through it, whether it is a
// real device (koffi-nvml.ts) or a simulated one (simulated-gpu.ts).
//
// Synchronous on purpose: NVML calls are synchronous C calls that take microseconds; a hop to a worker
// thread would cost more than the call and add jitter to the agent's hot path (begin → clock set). Every
// method may throw an NvmlError (see errors.ts).

/** Why the GPU runs below its requested clock: the decoded nvmlClocksEventReasons bitmask. */
export type ClockEventReason =
  | 'GpuIdle'
  | 'ApplicationsClocksSetting'
  | 'SwPowerCap'
  | 'HwSlowdown'
  | 'SyncBoost'
  | 'SwThermalSlowdown'
  | 'HwThermalSlowdown'
  | 'HwPowerBrakeSlowdown'
  | 'DisplayClockSetting';

/** Bit values of nvmlClocksEventReason* (nvml.h). */
export const CLOCK_EVENT_REASON_BITS: Readonly<Record<ClockEventReason, bigint>> = {
  GpuIdle: 0x1n,
  ApplicationsClocksSetting: 0x2n,
  SwPowerCap: 0x4n,
  HwSlowdown: 0x8n,
  SyncBoost: 0x10n,
  SwThermalSlowdown: 0x20n,
  HwThermalSlowdown: 0x40n,
  HwPowerBrakeSlowdown: 0x80n,
  DisplayClockSetting: 0x100n,
};

/** Reasons that mean the GPU is slowed by its environment (a straggler's typical signature). */
export const THROTTLE_REASONS: readonly ClockEventReason[] = [
  'SwPowerCap',
  'HwSlowdown',
  'SwThermalSlowdown',
  'HwThermalSlowdown',
  'HwPowerBrakeSlowdown',
];

/** Decodes an nvmlClocksEventReasons bitmask into names, in bit order; unknown bits are ignored. */
export function decodeClockEventReasons(mask: bigint | number): ClockEventReason[] {
  const bits = typeof mask === 'bigint' ? mask : BigInt(mask);
  const out: ClockEventReason[] = [];
  for (const [name, bit] of Object.entries(CLOCK_EVENT_REASON_BITS) as [ClockEventReason, bigint][]) {
    if ((bits & bit) !== 0n) out.push(name);
  }
  return out;
}

/** Encodes reason names into an nvmlClocksEventReasons bitmask. */
export function encodeClockEventReasons(reasons: readonly ClockEventReason[]): bigint {
  let mask = 0n;
  for (const r of reasons) mask |= CLOCK_EVENT_REASON_BITS[r];
  return mask;
}

/** One GPU. All clocks in MHz, energy in mJ, power in mW (NVML's units, named in every method). */
export interface Gpu {
  /** NVML device index on this node. */
  readonly index: number;
  /** e.g. `GPU-5d2c…`; the identity kubelet's pod-resources API reports. */
  readonly uuid: string;
  /** Product name, e.g. `NVIDIA A100-SXM4-80GB`. */
  readonly name: string;
  /** Supported memory clocks, highest first. */
  supportedMemoryClocksMhz(): readonly number[];
  /** Supported SM (graphics) clocks at a memory clock, highest first. */
  supportedGraphicsClocksMhz(memoryClockMhz: number): readonly number[];
  /** Locks the SM clock into [minMhz, maxMhz] (nvmlDeviceSetGpuLockedClocks). */
  setLockedGpuClocksMhz(minMhz: number, maxMhz: number): void;
  /** Returns the SM clock to the driver's default policy. */
  resetLockedGpuClocks(): void;
  /** Locks the memory clock; throws NvmlNotSupportedError on devices without memory clock locking. */
  setLockedMemoryClocksMhz(minMhz: number, maxMhz: number): void;
  /** Returns the memory clock to default; throws NvmlNotSupportedError where unsupported. */
  resetLockedMemoryClocks(): void;
  /** Energy since the driver was loaded (mJ, monotonic). */
  totalEnergyMillijoules(): number;
  /** Current board power draw (mW). */
  powerMilliwatts(): number;
  /** Current SM clock (MHz). */
  smClockMhz(): number;
  /** Current clock event (throttle) reasons. */
  clockEventReasons(): readonly ClockEventReason[];
}

/** The GPUs of a node. */
export interface GpuProvider {
  /** Every GPU, by NVML index. */
  readonly gpus: readonly Gpu[];
  /** Releases the library (nvmlShutdown); the Gpu objects are unusable afterwards. */
  close(): void;
}

/** The highest supported memory clock and the SM clocks supported at it (highest first). */
export function clockTable(gpu: Gpu): { memoryClockMhz: number; graphicsClocksMhz: readonly number[] } {
  const memoryClocks = gpu.supportedMemoryClocksMhz();
  const memoryClockMhz = Math.max(...memoryClocks);
  return { memoryClockMhz, graphicsClocksMhz: gpu.supportedGraphicsClocksMhz(memoryClockMhz) };
}
