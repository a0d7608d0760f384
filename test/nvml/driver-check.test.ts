import assert from 'node:assert/strict';
import { runDriverCheck } from '../../src/nvml/driver-check.ts';
import { NvmlLibrary } from '../../src/nvml/koffi-nvml.ts';
import { createFakeNvml, fakeNvmlUnavailable } from './fake-nvml.ts';

describe('driver check (scripts/gpu-check.ts) against the fake libnvidia-ml', function () {
  before(function () {
    const why = fakeNvmlUnavailable();
    if (why !== undefined) {
      console.warn(`Skipping the driver check test: ${why}`);
      this.skip();
    }
  });

  it('reports clocks, energy and locking per GPU and leaves every clock reset', async () => {
    const fake = createFakeNvml({ gpu_count: 2, graphics_clocks: '1410,1290,1005', memory_clocks: '1593' });
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      const report = await runDriverCheck(nvml, { windowMs: 50, repetitions: 6 });
      assert.equal(report.gpus.length, 2);
      assert.equal(report.allReset, true);
      for (const g of report.gpus) {
        assert.deepEqual(g.graphicsClocksMhz, [1410, 1290, 1005]);
        assert.ok(g.energy.monotonic);
        assert.ok(g.energy.counterWatts > 0, `counter ${g.energy.counterWatts} W`);
        assert.ok(g.lockedClock.ok);
        if (g.lockedClock.ok) {
          assert.equal(g.lockedClock.lowMhz, 1005);
          assert.equal(g.lockedClock.smClockAtLowMhz, 1005);
        }
        assert.equal(fake.lockedClockMhz(g.index), 0, `GPU ${g.index} clock reset`);
      }
    } finally {
      nvml.close();
    }
  });

  it('records a permission error instead of failing, with nothing left locked', async () => {
    const fake = createFakeNvml({ gpu_count: 1, graphics_clocks: '1410,1005', memory_clocks: '1593' });
    fake.setNoPermission(true);
    const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
    try {
      const report = await runDriverCheck(nvml, { windowMs: 10, repetitions: 2 });
      const lock = report.gpus[0]!.lockedClock;
      assert.equal(lock.ok, false);
      if (!lock.ok) assert.equal(lock.code, 'NVML_ERROR_NO_PERMISSION');
      assert.equal(fake.lockedClockMhz(0), 0);
    } finally {
      nvml.close();
    }
  });
});
