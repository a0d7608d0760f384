// Shared test data for the controller: a synthetic stage profile (time ∝ 1/clock, power rising with the
// clock) and a valid job.
import type { PerseusTrainingJob } from '../../src/api/index.ts';
import type { ProfileMeasurement, StageProfile } from '../../src/api/planner-types.ts';

export const CLOCKS_MHZ = [1410, 1275, 1140, 1005, 870];

/** Stage s is (1 + 0.15 s) times heavier than stage 0, so the pipeline is imbalanced and slack exists. */
export function syntheticProfile(stages: number): StageProfile {
  const measurements: ProfileMeasurement[] = [];
  for (let stage = 0; stage < stages; stage++) {
    for (const instruction of ['forward', 'backward'] as const) {
      const base = (instruction === 'forward' ? 0.01 : 0.02) * (1 + 0.15 * stage);
      for (const f of CLOCKS_MHZ) {
        const timeSeconds = base * (1410 / f) ** 0.8;
        const watts = 90 + 210 * (f / 1410) ** 2.2;
        measurements.push({ stage, instruction, frequencyMhz: f, timeSeconds, energyJoules: watts * timeSeconds });
      }
    }
  }
  return { stageCount: stages, measurements, blockingPowerWatts: 70 };
}

export function makeJob(overrides: { name?: string; spec?: Record<string, unknown>; status?: unknown } = {}): PerseusTrainingJob {
  return {
    apiVersion: 'perseus.energy/v1alpha1',
    kind: 'PerseusTrainingJob',
    metadata: { name: overrides.name ?? 'gpt', namespace: 'ml', uid: 'uid-gpt', generation: 1 },
    spec: {
      topology: { stages: 3, dataParallel: 2, microbatches: 4 },
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'trainer', image: 'example/train:1' }] } },
      planning: { unitTimeSeconds: 0.001 },
      // One profiling round: the rows reported are the profile (refinement rounds have their own tests).
      profiling: { refinement: { maxRounds: 0 } },
      straggler: { window: 3, threshold: 0.1, cooldownSeconds: 0 },
      ...(overrides.spec ?? {}),
    },
    ...(overrides.status === undefined ? {} : { status: overrides.status }),
  } as PerseusTrainingJob;
}
