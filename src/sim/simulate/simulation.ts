// `perseus simulate` end to end: an API server (embedded, or an existing cluster), the real controller, one
// real node agent per simulated node, the simulated kubelet and workers on virtual time; it runs the jobs to
// completion and collects what the report shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobStatus } from '../../api/job.ts';
import type { StageProfile } from '../../api/planner-types.ts';
import { createLogger } from '../../controller/log.ts';
import { JOBS, type KubeApi, type KubeObject } from '../../kube/client.ts';
import { KubeError } from '../../kube/errors.ts';
import { startCluster, startController, startKubelet, startNodes } from './cluster.ts';
import { EnergySampler } from './energy-sampler.ts';
import { Fabric, type IterationRecord } from './fabric.ts';
import type { JobManifest } from './job.ts';
import { JobTracker, type GenerationChange, type PhaseChange } from './job-tracker.ts';
import type { SimKubelet } from './kubelet.ts';
import type { SimNode } from './node.ts';
import { jobResult } from './results.ts';
import { placeOnSimulatedNodes } from './taint.ts';
import { Teardown } from './teardown.ts';
import { VirtualTime } from './virtual-time.ts';
import { waitForClockReset, waitForJobs } from './waits.ts';
import type { StragglerInjection } from './worker.ts';

/** A simulation that cannot run as asked (printed as one line by the CLI, exit code 1). */
export class SimulationError extends Error {
  override readonly name = 'SimulationError';
}

export interface SimulationOptions {
  readonly jobs: readonly JobManifest[];
  /** Attach to this cluster instead of starting the embedded API server. */
  readonly kubeconfig?: string;
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly gpuName: string;
  /** The simulated GPUs' truth. */
  readonly profile: StageProfile;
  readonly blockingPowerWatts: number;
  readonly timeScale: number;
  readonly iterations: number;
  readonly straggler?: StragglerInjection;
  /** With `kubeconfig`: bind pending pods too (for API servers without a scheduler). */
  readonly schedulePods?: boolean;
  /** Run the controller in this process (default true; false when `perseus controller` runs elsewhere). */
  readonly runController?: boolean;
  /** Give up after this much wall time (ms). */
  readonly timeoutMs?: number;
  /** Called about once a second (wall) with a progress line. */
  readonly onProgress?: (line: string) => void;
  readonly logLevel?: string;
  /**
   * Serve /metrics as the deployed processes do: the controller on this port, node i's agent on
   * `metricsPort + 1 + i` (0: free ports for all). Undefined: no metrics endpoints.
   */
  readonly metricsPort?: number;
  /** Called once every metrics endpoint listens (with `metricsPort`). */
  readonly onMetricsListening?: (endpoints: MetricsEndpoints) => void;
  /** Called once the cluster runs, before the jobs are submitted: its parts, for fault injection. */
  readonly onStarted?: (parts: SimulationParts) => void;
}

/** The running parts of a simulation (what a fault suite reaches into). */
export interface SimulationParts {
  readonly api: KubeApi;
  readonly nodes: readonly SimNode[];
  readonly kubelet: SimKubelet;
  readonly tracker: JobTracker;
  readonly time: VirtualTime;
}

/** The ports of the simulation's metrics endpoints (every interface). */
export interface MetricsEndpoints {
  /** Undefined when the controller runs elsewhere (`runController: false`). */
  readonly controllerPort: number | undefined;
  readonly agents: ReadonlyArray<{ readonly node: string; readonly port: number }>;
}

export type { GenerationChange, PhaseChange } from './job-tracker.ts';

export interface ProfileCheck {
  readonly rows: number;
  readonly maxTimeErrorRatio: number;
  readonly maxEnergyErrorRatio: number;
}

export interface JobResult {
  readonly namespace: string;
  readonly name: string;
  readonly stages: number;
  readonly pipelines: number;
  readonly microbatches: number;
  readonly phases: readonly PhaseChange[];
  readonly generations: readonly GenerationChange[];
  readonly status: JobStatus | undefined;
  readonly profileCheck: ProfileCheck | undefined;
  /** All-max clocks on the simulated GPUs' truth, every pipeline: iteration time and energy. */
  readonly baseline: { readonly iterationSeconds: number; readonly iterationEnergyJoules: number };
  readonly profiling: readonly IterationRecord[];
  readonly training: readonly IterationRecord[];
}

export interface SimulationResult {
  readonly jobs: readonly JobResult[];
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly gpuName: string;
  readonly timeScale: number;
  readonly straggler: StragglerInjection | undefined;
  readonly wallSeconds: number;
  readonly simulatedSeconds: number;
  /** Samples of every simulated GPU together: [simulated s, cumulative J, W]. */
  readonly energy: ReadonlyArray<readonly [number, number, number]>;
  /** Every GPU was back at default clocks when the jobs had finished (before the agents shut down). */
  readonly clocksResetAtEnd: boolean;
  readonly lockedClocksAtEnd: readonly string[];
}

/** Runs the jobs on a simulated cluster until they finish, and collects what the report shows. */
export async function runSimulation(o: SimulationOptions): Promise<SimulationResult> {
  if (o.metricsPort !== undefined && !(Number.isInteger(o.metricsPort) && o.metricsPort >= 0 && o.metricsPort + o.nodes <= 65535)) {
    throw new SimulationError(`metricsPort: expected 0 or a port with room for ${o.nodes} agent ports above it (at most ${65535 - o.nodes}), got ${o.metricsPort}`);
  }
  const wallStart = performance.now();
  const time = new VirtualTime(o.timeScale);
  const logger = createLogger(o.logLevel ?? 'error', true);
  const log = (message: string, fields?: Record<string, unknown>): void => void logger.warn(message, fields ?? {});
  const hostRoot = mkdtempSync(join(tmpdir(), 'perseus-sim-'));
  const teardown = new Teardown(log);
  try {
    const cluster = await startCluster({ ...(o.kubeconfig === undefined ? {} : { kubeconfig: o.kubeconfig }), namespaces: new Set(o.jobs.map((j) => j.metadata.namespace ?? 'default')) }, teardown);
    time.start();
    teardown.push(() => time.stop());
    const tracker = new JobTracker(o.jobs, cluster.api, time);
    const fabric = new Fabric(() => time.nowSeconds(), tracker.recordIteration);
    const nodes = await startNodes(cluster, { ...o, hostRoot, time, logger }, teardown);
    const kubelet = startKubelet(cluster, { nodes, fabric, time, schedule: cluster.embedded || o.schedulePods === true, iterations: o.iterations, straggler: o.straggler, log }, teardown);
    const controllerPort = o.runController ?? true ? await startController(cluster, time, logger, teardown, o.metricsPort) : undefined;
    if (o.metricsPort !== undefined) o.onMetricsListening?.({ controllerPort, agents: nodes.map((n) => ({ node: n.name, port: n.metricsPort ?? 0 })) });
    tracker.start();
    teardown.push(() => tracker.stop());
    o.onStarted?.({ api: cluster.api, nodes, kubelet, tracker, time });
    await submitJobs(cluster.api, o.jobs);

    const gpus = nodes.flatMap((n) => n.gpus);
    const energy = new EnergySampler(gpus, time);
    energy.start();
    teardown.push(() => energy.stop());
    const timeoutMs = o.timeoutMs ?? 30 * 60_000;
    await waitForJobs({ tracker, energy, time, deadlineMs: wallStart + timeoutMs, timeoutMs, iterations: o.iterations, onProgress: o.onProgress });
    energy.sample();
    const locked = await waitForClockReset(cluster.api, gpus, tracker);

    const jobs: JobResult[] = [];
    for (const j of o.jobs) jobs.push(await jobResult(j, tracker, cluster.api, o));
    return {
      jobs,
      nodes: o.nodes,
      gpusPerNode: o.gpusPerNode,
      gpuName: o.gpuName,
      timeScale: o.timeScale,
      straggler: o.straggler,
      wallSeconds: (performance.now() - wallStart) / 1000,
      simulatedSeconds: time.nowSeconds(),
      energy: energy.samples,
      clocksResetAtEnd: locked.length === 0,
      lockedClocksAtEnd: locked,
    };
  } finally {
    await teardown.run();
    rmSync(hostRoot, { recursive: true, force: true });
  }
}

/** Creates the jobs, placed on the simulated nodes (toleration and node selector); a job that already exists is a SimulationError. */
async function submitJobs(api: KubeApi, manifests: readonly JobManifest[]): Promise<void> {
  for (const j of manifests) {
    const { status: _status, ...body } = placeOnSimulatedNodes(j) as JobManifest & { status?: unknown };
    const namespace = j.metadata.namespace ?? 'default';
    try {
      await api.create(JOBS, namespace, body as unknown as KubeObject);
    } catch (err) {
      if (err instanceof KubeError && err.code === 409) {
        throw new SimulationError(
          `PerseusTrainingJob ${namespace}/${j.metadata.name} already exists in the cluster; delete it first (kubectl delete ptj -n ${namespace} ${j.metadata.name}) or simulate a job with another name`,
        );
      }
      throw err;
    }
  }
}
