// The real GPU: binds the few NVML functions the agent uses from libnvidia-ml.so.1 through koffi, and maps
// every return code into an NvmlError once, here. The only module that imports koffi.
import koffi, { type LibraryHandle } from 'koffi';
import { nvmlErrorFor, NVML_RETURN_CODES, NvmlError } from './errors.ts';
import { decodeClockEventReasons, type ClockEventReason, type Gpu, type GpuProvider } from './gpu.ts';

/** The library name the driver installs; driver containers mount it elsewhere (see `libraryPath`). */
export const DEFAULT_NVML_LIBRARY = 'libnvidia-ml.so.1';

const UUID_BUFFER_BYTES = 96; // NVML_DEVICE_UUID_V2_BUFFER_SIZE
const NAME_BUFFER_BYTES = 96; // NVML_DEVICE_NAME_V2_BUFFER_SIZE
const NVML_CLOCK_SM = 1; // nvmlClockType_t

type Fn = (...args: unknown[]) => number;

interface Bindings {
  nvmlInit_v2: Fn;
  nvmlShutdown: Fn;
  nvmlErrorString: (code: number) => string;
  nvmlDeviceGetCount_v2: Fn;
  nvmlDeviceGetHandleByIndex_v2: Fn;
  nvmlDeviceGetUUID: Fn;
  nvmlDeviceGetName: Fn;
  nvmlDeviceGetSupportedMemoryClocks: Fn;
  nvmlDeviceGetSupportedGraphicsClocks: Fn;
  nvmlDeviceSetGpuLockedClocks: Fn;
  nvmlDeviceResetGpuLockedClocks: Fn;
  nvmlDeviceSetMemoryLockedClocks: Fn;
  nvmlDeviceResetMemoryLockedClocks: Fn;
  nvmlDeviceGetTotalEnergyConsumption: Fn;
  nvmlDeviceGetPowerUsage: Fn;
  nvmlDeviceGetClockInfo: Fn;
  /** nvmlDeviceGetCurrentClocksEventReasons, or the older ...ThrottleReasons on drivers before 535. */
  clockEventReasons: Fn;
}

// Registered once per process: koffi type names are global.
let deviceTypeRegistered = false;

function bind(lib: LibraryHandle): Bindings {
  if (!deviceTypeRegistered) {
    koffi.pointer('nvmlDevice_t', koffi.opaque());
    deviceTypeRegistered = true;
  }
  const f = (proto: string): Fn => lib.func(proto) as unknown as Fn;
  let reasons: Fn;
  try {
    reasons = f('int nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, uint64_t *reasons)');
  } catch {
    reasons = f('int nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, uint64_t *reasons)');
  }
  return {
    nvmlInit_v2: f('int nvmlInit_v2()'),
    nvmlShutdown: f('int nvmlShutdown()'),
    nvmlErrorString: lib.func('const char *nvmlErrorString(int result)') as unknown as (code: number) => string,
    nvmlDeviceGetCount_v2: f('int nvmlDeviceGetCount_v2(_Out_ unsigned int *count)'),
    nvmlDeviceGetHandleByIndex_v2: f('int nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ nvmlDevice_t *device)'),
    nvmlDeviceGetUUID: f('int nvmlDeviceGetUUID(nvmlDevice_t device, _Out_ uint8_t *uuid, unsigned int length)'),
    nvmlDeviceGetName: f('int nvmlDeviceGetName(nvmlDevice_t device, _Out_ uint8_t *name, unsigned int length)'),
    nvmlDeviceGetSupportedMemoryClocks: f('int nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t device, _Inout_ unsigned int *count, unsigned int *clocksMHz)'),
    nvmlDeviceGetSupportedGraphicsClocks: f(
      'int nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t device, unsigned int memoryClockMHz, _Inout_ unsigned int *count, unsigned int *clocksMHz)',
    ),
    nvmlDeviceSetGpuLockedClocks: f('int nvmlDeviceSetGpuLockedClocks(nvmlDevice_t device, unsigned int minGpuClockMHz, unsigned int maxGpuClockMHz)'),
    nvmlDeviceResetGpuLockedClocks: f('int nvmlDeviceResetGpuLockedClocks(nvmlDevice_t device)'),
    nvmlDeviceSetMemoryLockedClocks: f('int nvmlDeviceSetMemoryLockedClocks(nvmlDevice_t device, unsigned int minMemClockMHz, unsigned int maxMemClockMHz)'),
    nvmlDeviceResetMemoryLockedClocks: f('int nvmlDeviceResetMemoryLockedClocks(nvmlDevice_t device)'),
    nvmlDeviceGetTotalEnergyConsumption: f('int nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, uint64_t *energy)'),
    nvmlDeviceGetPowerUsage: f('int nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)'),
    nvmlDeviceGetClockInfo: f('int nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock)'),
    clockEventReasons: reasons,
  };
}

/** A GPU reached through NVML. Methods throw NvmlError (NvmlNotSupportedError, NvmlPermissionError). */
class NvmlGpu implements Gpu {
  // Scratch buffers reused by the hot read paths (energy, power, clock) to avoid allocation per call.
  private readonly u64 = new BigUint64Array(1);
  private readonly u32 = new Uint32Array(1);

  constructor(
    private readonly nvml: NvmlLibrary,
    private readonly handle: unknown,
    readonly index: number,
    readonly uuid: string,
    readonly name: string,
  ) {}

  supportedMemoryClocksMhz(): readonly number[] {
    return this.nvml.clockList('nvmlDeviceGetSupportedMemoryClocks', (count, out) => this.nvml.b.nvmlDeviceGetSupportedMemoryClocks(this.handle, count, out));
  }

  supportedGraphicsClocksMhz(memoryClockMhz: number): readonly number[] {
    return this.nvml.clockList('nvmlDeviceGetSupportedGraphicsClocks', (count, out) =>
      this.nvml.b.nvmlDeviceGetSupportedGraphicsClocks(this.handle, memoryClockMhz, count, out),
    );
  }

  setLockedGpuClocksMhz(minMhz: number, maxMhz: number): void {
    this.nvml.check('nvmlDeviceSetGpuLockedClocks', this.nvml.b.nvmlDeviceSetGpuLockedClocks(this.handle, minMhz, maxMhz));
  }

  resetLockedGpuClocks(): void {
    this.nvml.check('nvmlDeviceResetGpuLockedClocks', this.nvml.b.nvmlDeviceResetGpuLockedClocks(this.handle));
  }

  setLockedMemoryClocksMhz(minMhz: number, maxMhz: number): void {
    this.nvml.check('nvmlDeviceSetMemoryLockedClocks', this.nvml.b.nvmlDeviceSetMemoryLockedClocks(this.handle, minMhz, maxMhz));
  }

  resetLockedMemoryClocks(): void {
    this.nvml.check('nvmlDeviceResetMemoryLockedClocks', this.nvml.b.nvmlDeviceResetMemoryLockedClocks(this.handle));
  }

  totalEnergyMillijoules(): number {
    this.nvml.check('nvmlDeviceGetTotalEnergyConsumption', this.nvml.b.nvmlDeviceGetTotalEnergyConsumption(this.handle, this.u64));
    return Number(this.u64[0]);
  }

  powerMilliwatts(): number {
    this.nvml.check('nvmlDeviceGetPowerUsage', this.nvml.b.nvmlDeviceGetPowerUsage(this.handle, this.u32));
    return this.u32[0]!;
  }

  smClockMhz(): number {
    this.nvml.check('nvmlDeviceGetClockInfo', this.nvml.b.nvmlDeviceGetClockInfo(this.handle, NVML_CLOCK_SM, this.u32));
    return this.u32[0]!;
  }

  clockEventReasons(): readonly ClockEventReason[] {
    this.nvml.check('nvmlDeviceGetCurrentClocksEventReasons', this.nvml.b.clockEventReasons(this.handle, this.u64));
    return decodeClockEventReasons(this.u64[0]!);
  }
}

/** Where to find the library. */
export interface NvmlLibraryOptions {
  /**
   * Path or soname of libnvidia-ml; default `libnvidia-ml.so.1` (the dynamic loader's search path).
   * With the GPU operator's driver container: `/run/nvidia/driver/usr/lib64/libnvidia-ml.so.1`.
   */
  readonly libraryPath?: string;
}

/** The loaded, initialized NVML library and its GPUs. `close()` calls nvmlShutdown. */
export class NvmlLibrary implements GpuProvider {
  /** @internal */
  readonly b: Bindings;
  readonly gpus: readonly Gpu[];
  private closed = false;

  private constructor(b: Bindings) {
    this.b = b;
    this.check('nvmlInit_v2', b.nvmlInit_v2());
    try {
      const count = [0];
      this.check('nvmlDeviceGetCount_v2', b.nvmlDeviceGetCount_v2(count));
      const gpus: Gpu[] = [];
      for (let i = 0; i < (count[0] ?? 0); i++) {
        const handle: unknown[] = [null];
        this.check('nvmlDeviceGetHandleByIndex_v2', b.nvmlDeviceGetHandleByIndex_v2(i, handle));
        const uuid = this.string('nvmlDeviceGetUUID', UUID_BUFFER_BYTES, (buf) => b.nvmlDeviceGetUUID(handle[0], buf, buf.length));
        const name = this.string('nvmlDeviceGetName', NAME_BUFFER_BYTES, (buf) => b.nvmlDeviceGetName(handle[0], buf, buf.length));
        gpus.push(new NvmlGpu(this, handle[0], i, uuid, name));
      }
      this.gpus = gpus;
    } catch (err) {
      b.nvmlShutdown();
      throw err;
    }
  }

  /**
   * Loads and initializes NVML. Throws NvmlError `NVML_ERROR_LIBRARY_NOT_FOUND` when the library cannot
   * be loaded (with the loader's message as `cause`), or the nvmlInit_v2 error.
   */
  static open(options: NvmlLibraryOptions = {}): NvmlLibrary {
    const path = options.libraryPath ?? DEFAULT_NVML_LIBRARY;
    let lib: LibraryHandle;
    try {
      lib = koffi.load(path);
    } catch (err) {
      throw new NvmlError('dlopen', NVML_RETURN_CODES.NVML_ERROR_LIBRARY_NOT_FOUND, `cannot load ${path}: ${(err as Error).message}`, { cause: err });
    }
    let b: Bindings;
    try {
      b = bind(lib);
    } catch (err) {
      throw new NvmlError('dlsym', NVML_RETURN_CODES.NVML_ERROR_FUNCTION_NOT_FOUND, `${path}: ${(err as Error).message}`, { cause: err });
    }
    return new NvmlLibrary(b);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.check('nvmlShutdown', this.b.nvmlShutdown());
  }

  /** @internal Throws the typed error for a non-success return code. */
  check(operation: string, code: number): void {
    if (code === NVML_RETURN_CODES.NVML_SUCCESS) return;
    let message: string;
    try {
      message = this.b.nvmlErrorString(code);
    } catch {
      message = 'unknown error';
    }
    throw nvmlErrorFor(operation, code, message);
  }

  /** @internal Calls an NVML list getter, growing the buffer on NVML_ERROR_INSUFFICIENT_SIZE. Highest first. */
  clockList(operation: string, call: (count: number[], out: Uint32Array) => number): number[] {
    let capacity = 128;
    for (let attempt = 0; attempt < 4; attempt++) {
      const count = [capacity];
      const out = new Uint32Array(capacity);
      const code = call(count, out);
      if (code === NVML_RETURN_CODES.NVML_ERROR_INSUFFICIENT_SIZE && (count[0] ?? 0) > capacity) {
        capacity = count[0] ?? capacity * 2;
        continue;
      }
      this.check(operation, code);
      return Array.from(out.subarray(0, count[0] ?? 0)).sort((a, b) => b - a);
    }
    throw new NvmlError(operation, NVML_RETURN_CODES.NVML_ERROR_INSUFFICIENT_SIZE, 'Insufficient Size');
  }

  private string(operation: string, bytes: number, call: (buf: Uint8Array) => number): string {
    const buf = new Uint8Array(bytes);
    this.check(operation, call(buf));
    const end = buf.indexOf(0);
    return Buffer.from(buf.subarray(0, end === -1 ? buf.length : end)).toString('utf8');
  }
}
