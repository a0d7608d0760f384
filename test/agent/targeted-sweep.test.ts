// A refinement round measures exactly its target clocks, one computation at a time, from the first full
// iteration on, and resets the clocks when done.
import assert from 'node:assert/strict';
import { TargetedSweep } from '../../src/agent/targeted-sweep.ts';

describe('targeted sweep (refinement round)', () => {
  it('sets each target clock per computation, averages its samples, and resets the clock at the end', () => {
    const calls: string[] = [];
    let clock = 1410;
    let energyMj = 0;
    let now = 0;
    const driver = {
      setClockMhz: (mhz: number) => {
        clock = mhz;
        calls.push(`set ${mhz}`);
      },
      resetClock: () => {
        clock = 1410;
        calls.push('reset');
      },
      energyMillijoules: () => energyMj,
    };
    const spec = { warmupIterations: 5, iterationsPerClock: 2, clockStrideMhz: 120, earlyStop: false, round: 2, targets: { forward: [1200, 1305, 999], backward: [1200] } };
    const sweep = new TargetedSweep(spec, 3, [1410, 1305, 1200], driver);
    assert.deepEqual(sweep.clocksMhz, [1305, 1200], 'an unsupported target is dropped');
    sweep.start();
    // A computation takes 100 ms × 1410 / clock at 200 W × clock / 1410 (so 20 J whatever the clock).
    const compute = (instruction: 'forward' | 'backward'): void => {
      sweep.begin(instruction, now);
      const ms = (100 * 1410) / clock;
      now += ms;
      energyMj += 20_000;
      sweep.end(now);
    };
    const iteration = (): boolean => {
      compute('forward');
      compute('forward');
      compute('backward');
      compute('backward');
      return sweep.stepEnd(now);
    };
    assert.equal(iteration(), false, 'the iteration in flight at the start is not measured');
    assert.ok(!calls.some((c) => c.startsWith('set')), 'no clock set before measuring starts');
    let iterations = 0;
    while (!sweep.done && iterations < 10) {
      iteration();
      iterations++;
    }
    assert.equal(iterations, 2, 'two forward targets × 2 samples = 4 forwards, two per iteration');
    const rows = sweep.profile!.measurements;
    assert.deepEqual(rows.map((r) => `${r.stage} ${r.instruction} ${r.frequencyMhz}`), ['3 forward 1305', '3 forward 1200', '3 backward 1200']);
    for (const r of rows) {
      assert.ok(Math.abs(r.timeSeconds - (0.1 * 1410) / r.frequencyMhz) < 1e-9, `${r.frequencyMhz}: ${r.timeSeconds} s`);
      assert.ok(Math.abs(r.energyJoules - 20) < 1e-9, `${r.frequencyMhz}: ${r.energyJoules} J`);
    }
    assert.equal(sweep.profile!.round, 2);
    assert.ok(sweep.profile!.seconds > 0 && sweep.profile!.energyJoules > 0);
    assert.equal(calls[calls.length - 1], 'reset', 'the clocks are reset when the round is done');
    assert.equal(clock, 1410);
  });

  it('refuses targets none of which the GPU supports, naming the field', () => {
    const driver = { setClockMhz: () => undefined, resetClock: () => undefined, energyMillijoules: () => 0 };
    assert.throws(() => new TargetedSweep({ warmupIterations: 0, iterationsPerClock: 1, clockStrideMhz: 120, earlyStop: false, targets: { forward: [999], backward: [] } }, 0, [1410], driver), /profiling\.targets/);
  });
});
