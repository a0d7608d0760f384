// The savings of bench:savings measured by running the system: `perseus simulate` on the embedded API
// server with the bundled example job (default profiling: the model-based rounds), on simulated GPUs whose
// truth is each workload's measured profile. Savings are the simulated GPUs' measured energy per iteration
// against all-max clocks at equal or lower iteration time.
import type { StageProfile } from '../src/api/planner-types.ts';
import { defaultJob } from '../src/sim/simulate/job.ts';
import { summarizeJob } from '../src/sim/simulate/report.ts';
import { runSimulation } from '../src/sim/simulate/simulation.ts';

export interface SystemRun {
  readonly savingsPercent: number | undefined;
  readonly slowdownPercent: number | undefined;
  readonly profilingGpuSeconds: number | undefined;
  /** With a straggler: measured energy per iteration (all pipelines) while it was slow. */
  readonly stragglerIterationEnergyJoules: number | undefined;
  readonly wallSeconds: number;
}

export interface SystemRunOptions {
  readonly profile: StageProfile;
  readonly blockingPowerWatts: number;
  readonly gpuName: string;
  readonly microbatches: number;
  readonly pipelines: number;
  readonly iterations: number;
  readonly timeScale: number;
  readonly straggler?: { readonly factor: number; readonly atIteration: number };
}

/** One `perseus simulate` run of the example job on `profile`; 8 GPUs per node, a node per pipeline. */
export async function runSystem(o: SystemRunOptions): Promise<SystemRun> {
  const job = defaultJob({ pipelines: o.pipelines, microbatches: o.microbatches, iterations: o.iterations });
  const result = await runSimulation({
    jobs: [job],
    nodes: o.pipelines,
    gpusPerNode: 8,
    gpuName: o.gpuName,
    profile: o.profile,
    blockingPowerWatts: o.blockingPowerWatts,
    timeScale: o.timeScale,
    iterations: o.iterations,
    ...(o.straggler === undefined ? {} : { straggler: { pipeline: 1, factor: o.straggler.factor, atIteration: o.straggler.atIteration } }),
    timeoutMs: 1_500_000,
  });
  const job0 = result.jobs[0];
  if (job0 === undefined) throw new Error('the simulation ran no job');
  const s = summarizeJob(job0, result);
  return {
    savingsPercent: s.savingsRatio === undefined ? undefined : s.savingsRatio * 100,
    slowdownPercent: s.slowdownRatio === undefined ? undefined : s.slowdownRatio * 100,
    profilingGpuSeconds: s.profilingCost?.gpuSeconds,
    stragglerIterationEnergyJoules: s.straggler?.measured?.iterationEnergyJoules,
    wallSeconds: result.wallSeconds,
  };
}
