import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NvmlError, NvmlNotSupportedError } from '../../src/nvml/errors.ts';
import { decodeClockEventReasons, encodeClockEventReasons } from '../../src/nvml/gpu.ts';
import { ManualSimTime, ScaledSimTime } from '../../src/nvml/sim-clock.ts';
import { SimulatedGpu } from '../../src/nvml/simulated-gpu.ts';
import { measurementsToCsv, parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';

const csv = readFileSync(new URL('../fixtures/fake-nvml/profile.csv', import.meta.url), 'utf8');
const profile = { ...unwrap(parseStageProfileCsv(csv)), blockingPowerWatts: 60 };

function row(stage: number, instruction: string, f: number): { t: number; e: number } {
  const m = profile.measurements.find((x) => x.stage === stage && x.instruction === instruction && x.frequencyMhz === f);
  assert.ok(m);
  return { t: m.timeSeconds, e: m.energyJoules };
}

describe('stage profile CSV', () => {
  it('parses the fixture and round-trips through format', () => {
    assert.equal(profile.stageCount, 2);
    assert.equal(profile.measurements.length, 20);
    assert.equal(profile.blockingPowerWatts, 60);
    assert.deepEqual(unwrap(parseStageProfileCsv(measurementsToCsv(profile.measurements))).measurements, profile.measurements);
  });
  it('names the line and column of a bad cell', () => {
    const parsed = parseStageProfileCsv('stage,instruction,frequency,time,energy\n0,sideways,1410,1,1\n');
    assert.ok(!parsed.ok);
    assert.equal(parsed.issues[0]?.path, 'row 2, column instruction');
  });
});

describe('clock event reasons', () => {
  it('decodes and encodes the NVML bitmask', () => {
    assert.deepEqual(decodeClockEventReasons(0x1n | 0x20n | 0x80n), ['GpuIdle', 'SwThermalSlowdown', 'HwPowerBrakeSlowdown']);
    assert.deepEqual(decodeClockEventReasons(0x110), ['SyncBoost', 'DisplayClockSetting']);
    assert.equal(encodeClockEventReasons(['HwSlowdown', 'SwPowerCap']), 0xcn);
    assert.deepEqual(decodeClockEventReasons(0x10000n), []);
  });
});

describe('SimulatedGpu', () => {
  function make(time = new ManualSimTime()): { gpu: SimulatedGpu; time: ManualSimTime } {
    return { gpu: new SimulatedGpu({ index: 0, uuid: 'GPU-a', profile, time, defaultStage: 1 }), time };
  }

  it('lists the profiled clocks highest first and validates locked clocks', () => {
    const { gpu } = make();
    assert.deepEqual(gpu.supportedMemoryClocksMhz(), [1593]);
    assert.deepEqual(gpu.supportedGraphicsClocksMhz(1593), [1410, 1380, 1350, 1320, 1290]);
    assert.throws(() => gpu.setLockedGpuClocksMhz(1400, 1400), (e: unknown) => e instanceof NvmlError && e.codeName === 'NVML_ERROR_INVALID_ARGUMENT');
    gpu.setLockedGpuClocksMhz(1350, 1350);
    assert.equal(gpu.smClockMhz(), 1350);
    gpu.resetLockedGpuClocks();
    assert.equal(gpu.smClockMhz(), 1410);
  });

  it('charges the profile energy at the locked clock and blocking power while idle', () => {
    const { gpu, time } = make();
    gpu.setLockedGpuClocksMhz(1320, 1320);
    const d = gpu.runComputation('backward');
    assert.equal(d, row(1, 'backward', 1320).t);
    time.advance(d);
    assert.ok(Math.abs(gpu.totalEnergyMillijoules() - row(1, 'backward', 1320).e * 1000) <= 1);
    time.advance(2);
    assert.equal(gpu.powerMilliwatts(), 60_000);
    assert.ok(Math.abs(gpu.totalEnergyMillijoules() - (row(1, 'backward', 1320).e + 120) * 1000) <= 1);
  });

  it('queues computations like a stream and uses the nearest profiled clock at or below the lock', () => {
    const { gpu, time } = make();
    const a = gpu.launch('forward', 0);
    const b = gpu.launch('forward', 0);
    assert.equal(b.startSeconds, a.durationSeconds);
    time.advance(a.durationSeconds / 2);
    assert.equal(gpu.powerMilliwatts(), Math.round((row(0, 'forward', 1410).e / row(0, 'forward', 1410).t) * 1000));
    const table = new SimulatedGpu({ index: 0, uuid: 'x', profile, time, graphicsClocksMhz: [1410, 1395, 1380, 1200] });
    table.setLockedGpuClocksMhz(1395, 1395);
    assert.equal(table.costAt('forward', 0).frequencyMhz, 1380);
    table.setLockedGpuClocksMhz(1200, 1200);
    assert.equal(table.costAt('forward', 0).frequencyMhz, 1290);
  });

  it('slows down and reports throttling like a straggler', () => {
    const { gpu } = make();
    gpu.setSlowdown(1.2);
    assert.ok(Math.abs(gpu.runComputation('forward', 0) - row(0, 'forward', 1410).t * 1.2) < 1e-12);
    assert.deepEqual(gpu.clockEventReasons(), ['HwThermalSlowdown']);
  });

  it('throws NvmlNotSupportedError for memory locks where unsupported', () => {
    const gpu = new SimulatedGpu({ index: 0, uuid: 'x', profile, time: new ManualSimTime(), memoryClockLockSupported: false });
    assert.throws(() => gpu.setLockedMemoryClocksMhz(1593, 1593), NvmlNotSupportedError);
  });

  it('scales wall time', () => {
    let ms = 1000;
    const t = new ScaledSimTime(100, () => ms);
    ms += 50;
    assert.equal(t.nowSeconds(), 5);
  });
});
