import assert from 'node:assert/strict';
import { NvmlError, NvmlNotSupportedError, NvmlPermissionError } from '../../src/nvml/errors.ts';
import { NvmlLibrary } from '../../src/nvml/koffi-nvml.ts';
import { createFakeNvml, fakeNvmlUnavailable } from './fake-nvml.ts';

describe('NVML binding (koffi) against the fake libnvidia-ml', function () {
  before(function () {
    const why = fakeNvmlUnavailable();
    if (why !== undefined) {
      console.warn(`Skipping NVML binding tests: ${why}`);
      this.skip();
    }
  });

  it('lists devices with UUIDs, names and supported clocks', () => {
    const fake = createFakeNvml({ gpu_count: 2, 'uuid.0': 'GPU-aaaa', 'uuid.1': 'GPU-bbbb', name: 'NVIDIA A100-SXM4-80GB', graphics_clocks: '1290,1410,1350', memory_clocks: '1593,1215' });
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      assert.deepEqual(nvml.gpus.map((g) => [g.index, g.uuid, g.name]), [
        [0, 'GPU-aaaa', 'NVIDIA A100-SXM4-80GB'],
        [1, 'GPU-bbbb', 'NVIDIA A100-SXM4-80GB'],
      ]);
      const gpu = nvml.gpus[1]!;
      assert.deepEqual(gpu.supportedMemoryClocksMhz(), [1593, 1215]);
      assert.deepEqual(gpu.supportedGraphicsClocksMhz(1593), [1410, 1350, 1290]);
      assert.throws(() => gpu.supportedGraphicsClocksMhz(1000), (e: unknown) => e instanceof NvmlError && e.codeName === 'NVML_ERROR_NOT_FOUND' && e.nvmlMessage === 'Not Found');
    } finally {
      nvml.close();
    }
    assert.ok(fake.calls().includes('nvmlShutdown -1  -> 0'));
  });

  it('grows list buffers on NVML_ERROR_INSUFFICIENT_SIZE', () => {
    const clocks = Array.from({ length: 200 }, (_, i) => 2000 - 5 * i);
    const fake = createFakeNvml({ graphics_clocks: clocks.join(',') });
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      assert.deepEqual(nvml.gpus[0]!.supportedGraphicsClocksMhz(1593), clocks);
    } finally {
      nvml.close();
    }
  });

  it('locks and resets clocks, validating against the supported list', () => {
    const fake = createFakeNvml({ gpu_count: 1 });
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      const gpu = nvml.gpus[0]!;
      gpu.setLockedGpuClocksMhz(1350, 1350);
      assert.equal(fake.lockedClockMhz(0), 1350);
      assert.equal(gpu.smClockMhz(), 1350);
      assert.throws(() => gpu.setLockedGpuClocksMhz(1351, 1351), (e: unknown) => {
        assert.ok(e instanceof NvmlError);
        assert.equal(e.code, 2);
        assert.equal(e.codeName, 'NVML_ERROR_INVALID_ARGUMENT');
        assert.equal(e.nvmlMessage, 'Invalid Argument');
        assert.equal(e.operation, 'nvmlDeviceSetGpuLockedClocks');
        return true;
      });
      assert.equal(fake.lockedClockMhz(0), 1350);
      gpu.setLockedMemoryClocksMhz(1593, 1593);
      assert.equal(fake.lockedMemoryClockMhz(0), 1593);
      gpu.resetLockedMemoryClocks();
      gpu.resetLockedGpuClocks();
      assert.equal(fake.lockedClockMhz(0), 0);
      assert.deepEqual(fake.calls().filter((l) => /Locked/.test(l)), [
        'nvmlDeviceSetGpuLockedClocks 0 1350 1350 -> 0',
        'nvmlDeviceSetGpuLockedClocks 0 1351 1351 -> 2',
        'nvmlDeviceSetMemoryLockedClocks 0 1593 1593 -> 0',
        'nvmlDeviceResetMemoryLockedClocks 0  -> 0',
        'nvmlDeviceResetGpuLockedClocks 0  -> 0',
      ]);
    } finally {
      nvml.close();
    }
  });

  it('maps NO_PERMISSION and NOT_SUPPORTED to typed errors', () => {
    const fake = createFakeNvml({ no_permission: 1, memory_lock_supported: 0 });
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      const gpu = nvml.gpus[0]!;
      assert.throws(() => gpu.setLockedGpuClocksMhz(1410, 1410), (e: unknown) => e instanceof NvmlPermissionError && e.codeName === 'NVML_ERROR_NO_PERMISSION' && e.nvmlMessage === 'Insufficient Permissions');
      assert.throws(() => gpu.resetLockedGpuClocks(), NvmlPermissionError);
      assert.throws(() => gpu.setLockedMemoryClocksMhz(1593, 1593), NvmlNotSupportedError);
    } finally {
      nvml.close();
    }
  });

  it('reports UNINITIALIZED after shutdown', () => {
    const fake = createFakeNvml({});
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    const gpu = nvml.gpus[0]!;
    nvml.close();
    assert.throws(() => gpu.setLockedGpuClocksMhz(1410, 1410), (e: unknown) => e instanceof NvmlError && e.codeName === 'NVML_ERROR_UNINITIALIZED');
  });

  it('integrates energy over time with power that depends on the locked clock', () => {
    const fake = createFakeNvml({ time: 'manual', idle_power_w: 50, busy_power_w: 250 });
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      const gpu = nvml.gpus[0]!;
      const e0 = gpu.totalEnergyMillijoules();
      fake.advanceSeconds(2);
      assert.equal(gpu.totalEnergyMillijoules() - e0, 100_000);
      assert.equal(gpu.powerMilliwatts(), 50_000);
      fake.setLoad(0, 1);
      assert.equal(gpu.powerMilliwatts(), 250_000);
      gpu.setLockedGpuClocksMhz(1290, 1290);
      const expected = 50 + 200 * (1290 / 1410) ** 2.5;
      assert.ok(Math.abs(gpu.powerMilliwatts() / 1000 - expected) < 0.01);
      const e1 = gpu.totalEnergyMillijoules();
      fake.advanceSeconds(1);
      assert.ok(Math.abs(gpu.totalEnergyMillijoules() - e1 - expected * 1000) <= 1);
    } finally {
      nvml.close();
    }
  });

  it('decodes clock event reasons, falling back to the throttle-reasons symbol on older drivers', () => {
    for (const variant of ['default', 'no-event-reasons'] as const) {
      const fake = createFakeNvml({ event_reasons: '0x60' }, variant);
      const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
      try {
        assert.deepEqual(nvml.gpus[0]!.clockEventReasons(), ['SwThermalSlowdown', 'HwThermalSlowdown']);
        fake.setEventReasons(0, 0x4n);
        assert.deepEqual(nvml.gpus[0]!.clockEventReasons(), ['SwPowerCap']);
      } finally {
        nvml.close();
      }
    }
  });

  it('throws NVML_ERROR_LIBRARY_NOT_FOUND with the loader message when the library is missing', () => {
    assert.throws(() => NvmlLibrary.open({ libraryPath: '/nonexistent/libnvidia-ml.so.1' }), (e: unknown) => e instanceof NvmlError && e.codeName === 'NVML_ERROR_LIBRARY_NOT_FOUND' && e.cause !== undefined);
  });
});
