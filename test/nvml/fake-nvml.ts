// Test support: compiles the fake libnvidia-ml (test/fixtures/fake-nvml/fake_nvml.c) with the machine's
// C compiler into test/.build/, and gives each test its own copy (its own library state) with a config.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

const root = fileURLToPath(new URL('../..', import.meta.url));
const source = join(root, 'test/fixtures/fake-nvml/fake_nvml.c');
const buildDir = join(root, 'test/.build');

let compileError: string | undefined;

/** Compiles the fake (once per variant); returns the path, or undefined with `fakeNvmlUnavailable()` saying why. */
function compile(variant: 'default' | 'no-event-reasons'): string | undefined {
  const out = join(buildDir, variant === 'default' ? 'libnvidia-ml.so.1' : 'libnvidia-ml-noevents.so.1');
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) return out;
  mkdirSync(buildDir, { recursive: true });
  const defs = variant === 'default' ? [] : ['-DFAKE_NVML_NO_EVENT_REASONS'];
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', ...defs, '-o', out, source], { stdio: 'pipe' });
    return out;
  } catch (err) {
    compileError = `cannot compile the fake NVML library with cc: ${(err as Error).message.split('\n')[0]}`;
    return undefined;
  }
}

/** Why the fake is unavailable (no C compiler), or undefined when it is available. */
export function fakeNvmlUnavailable(): string | undefined {
  return compile('default') === undefined ? (compileError ?? 'cannot compile the fake NVML library') : undefined;
}

export interface FakeNvml {
  /** A private copy of the library: load it with NvmlLibrary.open({ libraryPath }). */
  readonly libraryPath: string;
  readonly logPath: string;
  readonly configPath: string;
  readonly dir: string;
  /** Lines of the call log (set/reset/list calls; reads are not logged). */
  calls(): string[];
  /** Test controls bound from the same library instance. */
  setLoad(gpu: number, load: number): void;
  setPowerMilliwatts(gpu: number, mw: number): void;
  setEventReasons(gpu: number, mask: bigint): void;
  lockedClockMhz(gpu: number): number;
  lockedMemoryClockMhz(gpu: number): number;
  setNoPermission(on: boolean): void;
  advanceSeconds(seconds: number): void;
  nowSeconds(): number;
}

let copies = 0;

/**
 * A fresh fake NVML instance configured with `config` (`key=value`, see fake_nvml.c). The library reads
 * FAKE_NVML_CONFIG on its first call, so the controls are bound (and make that call) right here.
 */
export function createFakeNvml(config: Record<string, string | number>, variant: 'default' | 'no-event-reasons' = 'default'): FakeNvml {
  const built = compile(variant);
  if (built === undefined) throw new Error(compileError);
  const dir = mkdtempSync(join(buildDir, `fake-${process.pid}-${copies++}-`));
  const libraryPath = join(dir, 'libnvidia-ml.so.1');
  copyFileSync(built, libraryPath);
  const logPath = join(dir, 'calls.log');
  const configPath = join(dir, 'fake-nvml.conf');
  const lines = Object.entries({ log: logPath, ...config }).map(([k, v]) => `${k}=${v}`);
  writeFileSync(configPath, `${lines.join('\n')}\n`);
  writeFileSync(logPath, '');
  const previous = process.env.FAKE_NVML_CONFIG;
  process.env.FAKE_NVML_CONFIG = configPath;
  const lib = koffi.load(libraryPath);
  const now = lib.func('double fake_nvml_now_seconds()') as unknown as () => number;
  now(); // reads the config now, while FAKE_NVML_CONFIG points at it
  if (previous === undefined) delete process.env.FAKE_NVML_CONFIG;
  else process.env.FAKE_NVML_CONFIG = previous;
  const fn = <T>(proto: string): T => lib.func(proto) as unknown as T;
  const setLoad = fn<(i: number, l: number) => void>('void fake_nvml_set_load(unsigned int i, double load)');
  const setPower = fn<(i: number, mw: number) => void>('void fake_nvml_set_power_mw(unsigned int i, double mw)');
  const setReasons = fn<(i: number, m: bigint) => void>('void fake_nvml_set_event_reasons(unsigned int i, uint64_t m)');
  const locked = fn<(i: number) => number>('int fake_nvml_locked_clock(unsigned int i)');
  const lockedMem = fn<(i: number) => number>('int fake_nvml_locked_memory_clock(unsigned int i)');
  const noPerm = fn<(v: number) => void>('void fake_nvml_set_no_permission(int v)');
  const advance = fn<(s: number) => void>('void fake_nvml_advance_seconds(double s)');
  return {
    libraryPath,
    logPath,
    configPath,
    dir,
    calls: () => readFileSync(logPath, 'utf8').split('\n').filter((l) => l !== ''),
    setLoad,
    setPowerMilliwatts: setPower,
    setEventReasons: setReasons,
    lockedClockMhz: locked,
    lockedMemoryClockMhz: lockedMem,
    setNoPermission: (on) => noPerm(on ? 1 : 0),
    advanceSeconds: advance,
    nowSeconds: now,
  };
}
