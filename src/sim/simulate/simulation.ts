// `perseus simulate` end to end: an API server (embedded, or an existing cluster), the real controller, one
// real node agent per simulated node, the simulated kubelet and workers on virtual time; it runs the jobs to
// completion and collects what the report shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allCrds } from '../../api/crds.ts';
import type { JobStatus } from '../../api/job.ts';
import { CONFIG_MAP_KEYS, configMapName, DEFAULT_GPU_RESOURCE } from '../../api/names.ts';
import type { PipelineSpec, StageProfile } from '../../api/planner-types.ts';
import { createLogger } from '../../controller/log.ts';
import { Operator } from '../../controller/operator.ts';
import { ClientKubeApi, CONFIGMAPS, JOBS, kubeConfigFromYaml, loadKubeConfig, RANKS, type KubeApi, type KubeObject } from '../../kube/client.ts';
import { Informer } from '../../kube/informer.ts';
import { ClientKubeletApi } from '../kubelet-api.ts';
import { allMaxPlan, evaluatePlan, parseStageProfileCsv } from '../../planner/index.ts';
import { startApiServer, type ApiServer } from '../apiserver/index.ts';
import { Fabric, type IterationRecord } from './fabric.ts';
import type { JobManifest } from './job.ts';
import { SIMULATED_NODE_TAINT, tolerateSimulatedNodes } from './taint.ts';
import { SimKubelet } from './kubelet.ts';
import { SimNode } from './node.ts';
import { VirtualTime } from './virtual-time.ts';
import type { StragglerInjection } from './worker.ts';
import { KubeError } from '../../kube/errors.ts';

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
}

/** The ports of the simulation's metrics endpoints (every interface). */
export interface MetricsEndpoints {
  /** Undefined when the controller runs elsewhere (`runController: false`). */
  readonly controllerPort: number | undefined;
  readonly agents: ReadonlyArray<{ readonly node: string; readonly port: number }>;
}

export interface PhaseChange {
  readonly phase: string;
  readonly atSeconds: number;
}

export interface GenerationChange {
  readonly generation: number;
  readonly atSeconds: number;
  /** Training iterations finished when the job's status named the generation. */
  readonly iteration: number;
  readonly stragglers: readonly number[];
}

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

function jobKey(ns: string, name: string): string {
  return `${ns}/${name}`;
}

/** Compares the profile the agents measured (ConfigMap <job>-perseus) with the simulated GPUs' truth. */
function checkProfile(csv: string | undefined, truth: StageProfile): ProfileCheck | undefined {
  if (csv === undefined) return undefined;
  const parsed = parseStageProfileCsv(csv);
  if (!parsed.ok) return undefined;
  let maxT = 0;
  let maxE = 0;
  for (const m of parsed.value.measurements) {
    const t = truth.measurements.find((r) => r.stage === m.stage && r.instruction === m.instruction && r.frequencyMhz === m.frequencyMhz);
    if (t === undefined) return { rows: parsed.value.measurements.length, maxTimeErrorRatio: Infinity, maxEnergyErrorRatio: Infinity };
    maxT = Math.max(maxT, Math.abs(m.timeSeconds - t.timeSeconds) / t.timeSeconds);
    maxE = Math.max(maxE, Math.abs(m.energyJoules - t.energyJoules) / t.energyJoules);
  }
  return { rows: parsed.value.measurements.length, maxTimeErrorRatio: maxT, maxEnergyErrorRatio: maxE };
}

export async function runSimulation(o: SimulationOptions): Promise<SimulationResult> {
  if (o.metricsPort !== undefined && !(Number.isInteger(o.metricsPort) && o.metricsPort >= 0 && o.metricsPort + o.nodes <= 65535)) {
    throw new SimulationError(`metricsPort: expected 0 or a port with room for ${o.nodes} agent ports above it (at most ${65535 - o.nodes}), got ${o.metricsPort}`);
  }
  const wallStart = performance.now();
  const time = new VirtualTime(o.timeScale);
  const logger = createLogger(o.logLevel ?? 'error', true);
  const log = (message: string, fields?: Record<string, unknown>): void => void logger.warn(message, fields ?? {});
  let server: ApiServer | undefined;
  const hostRoot = mkdtempSync(join(tmpdir(), 'perseus-sim-'));
  const stops: Array<() => Promise<void> | void> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log('Failed to stop a simulation component', { error: (err as Error).message });
      }
    }
  };
  try {
    let kc;
    if (o.kubeconfig === undefined) {
      server = await startApiServer();
      const s = server;
      stops.push(() => s.stop());
      kc = kubeConfigFromYaml(server.kubeconfigYaml());
    } else {
      kc = loadKubeConfig(o.kubeconfig);
    }
    const api: KubeApi = new ClientKubeApi(kc);
    const kubelet = new ClientKubeletApi(kc);
    if (server !== undefined) await kubelet.installCrds(allCrds().map((c) => c.crd));
    for (const ns of new Set(o.jobs.map((j) => j.metadata.namespace ?? 'default'))) await kubelet.ensureNamespace(ns);

    time.start();
    stops.push(() => time.stop());
    const records = new Map<string, { profiling: IterationRecord[]; training: IterationRecord[] }>();
    const fabric = new Fabric(
      () => time.nowSeconds(),
      (r) => {
        const [ns, job, role] = r.world.split('/') as [string, string, string];
        const rec = records.get(jobKey(ns, job));
        if (rec !== undefined) (role === 'profiler' ? rec.profiling : rec.training).push(r);
      },
    );
    for (const j of o.jobs) records.set(jobKey(j.metadata.namespace ?? 'default', j.metadata.name), { profiling: [], training: [] });

    // Nodes: Node objects with GPU capacity, and each node's agent.
    const nodes: SimNode[] = [];
    const nodePrefix = o.kubeconfig === undefined ? 'gpu-node' : 'perseus-sim-node';
    for (let i = 0; i < o.nodes; i++) {
      const name = `${nodePrefix}-${i}`;
      await kubelet.registerNode({
        name,
        labels: { 'kubernetes.io/hostname': name, 'nvidia.com/gpu.product': o.gpuName.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''), [SIMULATED_NODE_TAINT.key]: 'true' },
        capacity: { cpu: '96', memory: '1Ti', pods: '110', [DEFAULT_GPU_RESOURCE]: String(o.gpusPerNode) },
        // Nothing but the simulated jobs (which tolerate it) may land on a node whose kubelet is simulated.
        taints: [SIMULATED_NODE_TAINT],
      });
      const metricsPort = o.metricsPort === undefined ? undefined : o.metricsPort === 0 ? 0 : o.metricsPort + 1 + i;
      const node = new SimNode({
        name,
        hostRoot: join(hostRoot, name),
        gpuCount: o.gpusPerNode,
        gpuName: o.gpuName,
        profile: o.profile,
        blockingPowerWatts: o.blockingPowerWatts,
        time,
        api,
        logger,
        ...(metricsPort === undefined ? {} : { metricsPort }),
      });
      await node.start();
      nodes.push(node);
      stops.push(() => node.stop());
      if (o.kubeconfig !== undefined) stops.push(() => kubelet.deleteNode(name));
    }
    const simKubelet = new SimKubelet({
      api,
      kubelet,
      clock: time.kubeClock,
      time,
      fabric,
      nodes,
      schedule: o.kubeconfig === undefined || o.schedulePods === true,
      gpuResource: DEFAULT_GPU_RESOURCE,
      iterations: o.iterations,
      ...(o.straggler === undefined ? {} : { straggler: o.straggler }),
      log,
    });
    simKubelet.start();
    stops.push(() => simKubelet.stop());

    let controllerPort: number | undefined;
    if (o.runController ?? true) {
      const operator = new Operator({ api, clock: time.kubeClock, logger, identity: 'perseus-simulate', workers: 2, ...(o.metricsPort === undefined ? {} : { httpPort: o.metricsPort }) });
      await operator.start();
      stops.push(() => operator.stop());
      controllerPort = operator.port;
    }
    if (o.metricsPort !== undefined) o.onMetricsListening?.({ controllerPort, agents: nodes.map((n) => ({ node: n.name, port: n.metricsPort ?? 0 })) });

    // Follow the jobs: phases and plan generations on simulated time.
    const phases = new Map<string, PhaseChange[]>();
    const generations = new Map<string, GenerationChange[]>();
    const statuses = new Map<string, JobStatus | undefined>();
    const trainingDone = (key: string): number => records.get(key)?.training.length ?? 0;
    const jobInformer = new Informer(api, time.kubeClock, { kind: JOBS, relistMs: 300_000 });
    jobInformer.onChange((key, obj) => {
      if (!records.has(key) || obj === undefined) return;
      const status = obj['status'] as JobStatus | undefined;
      statuses.set(key, status);
      const ph = phases.get(key) ?? [];
      if (status?.phase !== undefined && ph[ph.length - 1]?.phase !== status.phase) ph.push({ phase: status.phase, atSeconds: time.nowSeconds() });
      phases.set(key, ph);
      const gens = generations.get(key) ?? [];
      const g = status?.plan?.generation;
      if (g !== undefined && g > 0 && gens[gens.length - 1]?.generation !== g) {
        gens.push({ generation: g, atSeconds: time.nowSeconds(), iteration: trainingDone(key), stragglers: (status?.stragglers ?? []).map((s) => s.pipeline) });
      }
      generations.set(key, gens);
    });
    jobInformer.start();
    stops.push(() => jobInformer.stop());

    for (const j of o.jobs) {
      const { status: _status, ...body } = tolerateSimulatedNodes(j) as JobManifest & { status?: unknown };
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

    const allGpus = nodes.flatMap((n) => n.gpus);
    const energy: Array<[number, number, number]> = [];
    const sample = (): void => {
      let mj = 0;
      let mw = 0;
      for (const g of allGpus) {
        mj += g.totalEnergyMillijoules();
        mw += g.powerMilliwatts();
      }
      energy.push([time.nowSeconds(), mj / 1000, mw / 1000]);
    };
    let sampler: { cancel(): void } | undefined;
    const sampleEvery = 5;
    const tick = (): void => {
      sample();
      sampler = time.at(time.nowSeconds() + sampleEvery, tick);
    };
    tick();
    stops.push(() => sampler?.cancel());

    // Wait for every job to finish, printing progress.
    const deadline = wallStart + (o.timeoutMs ?? 30 * 60_000);
    const terminal = (key: string): boolean => ['Succeeded', 'Failed'].includes(statuses.get(key)?.phase ?? '');
    let lastProgress = 0;
    for (;;) {
      const keys = [...records.keys()];
      if (keys.every(terminal)) break;
      if (performance.now() > deadline) throw new Error(`the simulation did not finish within ${Math.round((o.timeoutMs ?? 0) / 1000)} s`);
      if (performance.now() - lastProgress >= 1000 && o.onProgress !== undefined) {
        lastProgress = performance.now();
        const last = energy[energy.length - 1];
        const parts = keys.map((k) => {
          const st = statuses.get(k);
          const rec = records.get(k)!;
          const it = st?.phase === 'Profiling' ? `profiling iteration ${rec.profiling.length}` : `iteration ${rec.training.length}/${o.iterations}`;
          return `${k} ${st?.phase ?? 'Pending'} gen ${st?.plan?.generation ?? 0} ${it}`;
        });
        o.onProgress(`t=${time.nowSeconds().toFixed(0).padStart(5)} s  ${parts.join('; ')}  power ${((last?.[2] ?? 0) / 1000).toFixed(2)} kW  energy ${((last?.[1] ?? 0) / 1e6).toFixed(3)} MJ`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    sample();

    // Every rank goes Idle once its job finished; the agents then reset the clocks. Wait for that.
    const resetBy = performance.now() + 30_000;
    let locked: string[] = [];
    for (;;) {
      locked = allGpus.filter((g) => g.lockedGpuClockMhz() !== undefined).map((g) => g.uuid);
      const ranks = await api.list(RANKS, undefined);
      const busy = ranks.items.filter((r) => records.has(jobKey(r.metadata.namespace ?? '', String((r['spec'] as { jobName?: string }).jobName))) && (r['spec'] as { mode?: string }).mode !== 'Idle');
      if ((locked.length === 0 && busy.length === 0) || performance.now() > resetBy) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const jobs: JobResult[] = [];
    for (const j of o.jobs) {
      const ns = j.metadata.namespace ?? 'default';
      const key = jobKey(ns, j.metadata.name);
      const topo = j.spec['topology'] as { stages: number; microbatches: number; dataParallel?: number; schedule?: PipelineSpec['schedule'] };
      const pipeline: PipelineSpec = { stages: topo.stages, microbatches: topo.microbatches, schedule: topo.schedule ?? '1F1B' };
      const pipelines = topo.dataParallel ?? 1;
      const base = evaluatePlan(allMaxPlan(o.profile, pipeline), o.profile, pipeline, o.blockingPowerWatts);
      const cm = await api.get(CONFIGMAPS, ns, configMapName(j.metadata.name));
      const rec = records.get(key)!;
      jobs.push({
        namespace: ns,
        name: j.metadata.name,
        stages: topo.stages,
        pipelines,
        microbatches: topo.microbatches,
        phases: phases.get(key) ?? [],
        generations: generations.get(key) ?? [],
        status: statuses.get(key),
        profileCheck: checkProfile((cm?.['data'] as Record<string, string> | undefined)?.[CONFIG_MAP_KEYS.profile], o.profile),
        baseline: { iterationSeconds: base.timeSeconds, iterationEnergyJoules: base.energyJoules * pipelines },
        profiling: rec.profiling,
        training: rec.training,
      });
    }
    return {
      jobs,
      nodes: o.nodes,
      gpusPerNode: o.gpusPerNode,
      gpuName: o.gpuName,
      timeScale: o.timeScale,
      straggler: o.straggler,
      wallSeconds: (performance.now() - wallStart) / 1000,
      simulatedSeconds: time.nowSeconds(),
      energy,
      clocksResetAtEnd: locked.length === 0,
      lockedClocksAtEnd: locked,
    };
  } finally {
    await stopAll();
    rmSync(hostRoot, { recursive: true, force: true });
  }
}
