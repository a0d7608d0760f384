// The real-driver check: exercises the Gpu interface on every device of a node (supported clocks, energy
// counter against reported power, locked-clock set/reset and its latency, memory clock locking, permission
// errors) and returns a JSON-able report. Every clock it locks is reset before it returns, error or not.
import { clockTable, type Gpu, type GpuProvider } from './gpu.ts';
import { NvmlError } from './errors.ts';

export interface GpuCheck {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly memoryClocksMhz: readonly number[];
  readonly graphicsClocksMhz: readonly number[];
  /** Energy counter over the sampling window, as average power, beside the power the driver reports. */
  readonly energy: { windowSeconds: number; counterWatts: number; reportedWatts: number; monotonic: boolean };
  readonly lockedClock: LockResult;
  readonly memoryLock: { supported: boolean; error?: string };
  readonly clockEventReasons: readonly string[];
}

export type LockResult =
  | { readonly ok: true; readonly lowMhz: number; readonly highMhz: number; readonly smClockAtLowMhz: number; readonly setLatencyMs: { p50: number; max: number }; readonly resetOk: boolean }
  | { readonly ok: false; readonly error: string; readonly code?: string };

export interface DriverCheckReport {
  readonly startedAt: string;
  readonly gpus: readonly GpuCheck[];
  /** Every GPU whose clocks were touched was reset (false means a reset call failed: check by hand). */
  readonly allReset: boolean;
}

export interface DriverCheckOptions {
  /** Energy sampling window (ms). */
  readonly windowMs?: number;
  /** Set/reset pairs timed per GPU. */
  readonly repetitions?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

function describe(err: unknown): { error: string; code?: string } {
  if (err instanceof NvmlError) return { error: `${err.operation}: ${err.nvmlMessage}`, code: err.codeName };
  return { error: err instanceof Error ? err.message : String(err) };
}

async function checkGpu(gpu: Gpu, o: Required<DriverCheckOptions>, touched: Set<Gpu>): Promise<GpuCheck> {
  const { memoryClockMhz, graphicsClocksMhz } = clockTable(gpu);
  const e0 = gpu.totalEnergyMillijoules();
  const t0 = o.now();
  const p0 = gpu.powerMilliwatts();
  await o.sleep(o.windowMs);
  const e1 = gpu.totalEnergyMillijoules();
  const t1 = o.now();
  const p1 = gpu.powerMilliwatts();
  const windowSeconds = (t1 - t0) / 1000;
  const energy = { windowSeconds, counterWatts: (e1 - e0) / 1000 / windowSeconds, reportedWatts: (p0 + p1) / 2000, monotonic: e1 >= e0 };

  let lockedClock: LockResult;
  const high = graphicsClocksMhz[0];
  const low = graphicsClocksMhz[graphicsClocksMhz.length - 1];
  if (high === undefined || low === undefined) {
    lockedClock = { ok: false, error: 'the device reports no supported graphics clocks' };
  } else {
    try {
      touched.add(gpu);
      const latencies: number[] = [];
      for (let i = 0; i < o.repetitions; i++) {
        const f = i % 2 === 0 ? low : high;
        const s = o.now();
        gpu.setLockedGpuClocksMhz(f, f);
        latencies.push(o.now() - s);
      }
      gpu.setLockedGpuClocksMhz(low, low);
      await o.sleep(50);
      const smClockAtLowMhz = gpu.smClockMhz();
      gpu.resetLockedGpuClocks();
      latencies.sort((a, b) => a - b);
      lockedClock = { ok: true, lowMhz: low, highMhz: high, smClockAtLowMhz, setLatencyMs: { p50: latencies[Math.floor(latencies.length / 2)] ?? NaN, max: latencies[latencies.length - 1] ?? NaN }, resetOk: true };
    } catch (err) {
      lockedClock = { ok: false, ...describe(err) };
    }
  }

  let memoryLock: GpuCheck['memoryLock'];
  try {
    gpu.setLockedMemoryClocksMhz(memoryClockMhz, memoryClockMhz);
    gpu.resetLockedMemoryClocks();
    memoryLock = { supported: true };
  } catch (err) {
    memoryLock = { supported: false, ...describe(err) };
  }

  return {
    index: gpu.index,
    uuid: gpu.uuid,
    name: gpu.name,
    memoryClocksMhz: gpu.supportedMemoryClocksMhz(),
    graphicsClocksMhz,
    energy,
    lockedClock,
    memoryLock,
    clockEventReasons: gpu.clockEventReasons(),
  };
}

/** Runs the check on every GPU of `provider`; resets every clock it touched before returning. */
export async function runDriverCheck(provider: GpuProvider, options: DriverCheckOptions = {}): Promise<DriverCheckReport> {
  const o: Required<DriverCheckOptions> = {
    windowMs: options.windowMs ?? 1000,
    repetitions: options.repetitions ?? 20,
    sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    now: options.now ?? (() => performance.now()),
  };
  const touched = new Set<Gpu>();
  const gpus: GpuCheck[] = [];
  let allReset = true;
  try {
    for (const gpu of provider.gpus) gpus.push(await checkGpu(gpu, o, touched));
  } finally {
    for (const gpu of touched) {
      try {
        gpu.resetLockedGpuClocks();
      } catch {
        allReset = false;
      }
    }
  }
  return { startedAt: new Date().toISOString(), gpus, allReset };
}
