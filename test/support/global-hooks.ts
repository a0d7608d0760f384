// Mocha global fixtures: the run's real control plane (when a suite started one) is stopped after all suites.
import { stopControlPlane } from './envtest.ts';

export async function mochaGlobalTeardown(): Promise<void> {
  await stopControlPlane();
}
