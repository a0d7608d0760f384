// The controller's planner service: every job waiting on one frontier hears when it is solved, whether it
// asked first or while the solve was running.
import assert from 'node:assert/strict';
import type { ProfileMeasurement, StageProfile } from '../../src/api/planner-types.ts';
import type { SolveRequest } from '../../src/controller/decision.ts';
import { PlannerService } from '../../src/controller/planner-service.ts';

function request(stages: number, microbatches: number): SolveRequest {
  const measurements: ProfileMeasurement[] = [];
  for (let stage = 0; stage < stages; stage++) {
    for (const instruction of ['forward', 'backward'] as const) {
      for (const f of [1410, 1140, 870]) {
        const timeSeconds = (instruction === 'forward' ? 0.01 : 0.02) * (1 + 0.1 * stage) * (1410 / f) ** 0.8;
        measurements.push({
          stage,
          instruction,
          frequencyMhz: f,
          timeSeconds,
          energyJoules: (90 + 210 * (f / 1410) ** 2.2) * timeSeconds,
        });
      }
    }
  }
  const profile: StageProfile = { stageCount: stages, measurements, blockingPowerWatts: 70 };
  return {
    profile,
    pipeline: { stages, microbatches, schedule: '1F1B' },
    options: {
      unitTimeSeconds: 0.001,
      blockingPowerWatts: 70,
      costModel: 'exact',
      granularity: 'Instruction',
    },
    maxSlowdown: 1.1,
    key: `s${stages}-m${microbatches}`,
  };
}

describe('PlannerService', function () {
  this.timeout(60_000);

  it('tells every requester of one key when its frontier is solved, also those that asked or waited while it was solving', async () => {
    // Inline solves still finish asynchronously (setImmediate), so the second and third requests arrive mid-solve.
    const planner = new PlannerService({ workerThreshold: 1000 });
    try {
      const req = request(2, 2);
      const heard: string[] = [];
      const all = new Promise<void>((resolve) => {
        const done = (who: string) => (): void => {
          heard.push(who);
          if (heard.length === 3) resolve();
        };
        planner.request(req, done('first'));
        assert.equal(planner.state(req.key).state, 'solving');
        planner.request(req, done('second'));
        // A job that only reads the state while it is solving asks to hear of it too.
        assert.equal(planner.whenSolved(req.key, done('third')), true);
      });
      await all;
      assert.deepEqual(heard, ['first', 'second', 'third']);
      const state = planner.state(req.key);
      assert.equal(state.state, 'ready');
      assert.ok(state.state === 'ready' && state.frontier.points.length > 0);
      assert.equal(planner.whenSolved(req.key, () => assert.fail('not being solved')), false);
      assert.equal(planner.whenSolved('unknown', () => assert.fail('not being solved')), false);
      // A solved key is not solved again: a later request is a no-op (the caller reads the state).
      let again = false;
      planner.request(req, () => (again = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(again, false);
    } finally {
      await planner.close();
    }
  });
});
