// The simulated kubelet (and, on the embedded API server, the scheduler) for simulated GPU nodes: binds
// pending pods to nodes with free GPUs, allocates GPUs, materializes the pod's hostPath and downward-API
// volumes, runs a simulated training worker per pod, reports pod phases, and finishes graceful deletions
// with gracePeriodSeconds=0 once the worker stopped, as a real kubelet does. Like the kubelet's status
// manager, a pod's status is reported again until the API server has taken it (a lost connection loses no
// phase), and a container that exited is never started again (restartPolicy Never).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { LABELS, WORKER_ENV } from '../../api/names.ts';
import { JOBS, PODS, type KubeApi, type KubeObject } from '../../kube/client.ts';
import type { Clock } from '../../kube/clock.ts';
import { Informer } from '../../kube/informer.ts';
import type { KubeletApi } from '../kubelet-api.ts';
import type { Fabric } from './fabric.ts';
import type { SimNode } from './node.ts';
import { SIMULATED_NODE_TAINT, tolerates, type Toleration } from './taint.ts';
import type { VirtualTime } from './virtual-time.ts';
import { SimWorker, type StragglerInjection } from './worker.ts';

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
}
interface Volume {
  name: string;
  hostPath?: { path: string };
  projected?: { sources?: Array<{ downwardAPI?: { items?: DownwardItem[] } }> };
  downwardAPI?: { items?: DownwardItem[] };
}
interface DownwardItem {
  path: string;
  fieldRef?: { fieldPath: string };
}
interface PodSpec {
  nodeName?: string;
  containers: Container[];
  volumes?: Volume[];
  tolerations?: Toleration[];
}

export interface KubeletOptions {
  readonly api: KubeApi;
  readonly kubelet: KubeletApi;
  readonly clock: Clock;
  readonly time: VirtualTime;
  readonly fabric: Fabric;
  readonly nodes: readonly SimNode[];
  /** Bind pending pods (no scheduler runs on the embedded API server). */
  readonly schedule: boolean;
  readonly gpuResource: string;
  /** Training iterations of worker pods (a container env SIM_ITERATIONS overrides it). */
  readonly iterations: number;
  readonly straggler?: StragglerInjection;
  /** Undefined: every namespace. */
  readonly namespace?: string;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface Running {
  readonly worker: SimWorker | undefined;
  readonly node: SimNode;
  readonly uid: string;
  /** The status reported once the pod started (phase Running). */
  readonly status: Record<string, unknown>;
  finished: boolean;
}

/** A pod whose container has exited here, and the terminal status to report. */
interface Exited {
  readonly uid: string;
  readonly status: Record<string, unknown>;
}

/** Resolves the value of a downward-API fieldRef such as metadata.annotations['perseus.energy/token']. */
function fieldValue(pod: KubeObject, fieldPath: string): string {
  const m = /^metadata\.(annotations|labels)\['(.+)'\]$/.exec(fieldPath);
  if (m !== null) return (m[1] === 'annotations' ? pod.metadata.annotations : pod.metadata.labels)?.[m[2]!] ?? '';
  if (fieldPath === 'metadata.name') return pod.metadata.name;
  if (fieldPath === 'metadata.namespace') return pod.metadata.namespace ?? 'default';
  if (fieldPath === 'metadata.uid') return pod.metadata.uid ?? '';
  return '';
}

export class SimKubelet {
  private readonly informer: Informer;
  private readonly running = new Map<string, Running>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly byName = new Map<string, SimNode>();
  /** Pods whose container exited on one of these nodes: reported until the API server has the phase, never started again. */
  private readonly exited = new Map<string, Exited>();
  /** The last phase the API server accepted for a pod (by UID), so a status is sent once it succeeded. */
  private readonly reported = new Map<string, { readonly uid: string; readonly phase: string }>();
  /** Pods this scheduler bound, until they start or go away. */
  private readonly bound = new Map<string, { node: string; gpus: number }>();
  private heartbeat: { cancel(): void } | undefined;
  /** Nodes whose heartbeats stopped (fault injection: the node goes NotReady as far as the cluster can tell). */
  private readonly silent = new Set<string>();
  private stopped = false;
  /** Workers by pod key (progress display). */
  readonly workers = new Map<string, SimWorker>();

  constructor(private readonly o: KubeletOptions) {
    for (const n of o.nodes) this.byName.set(n.name, n);
    this.informer = new Informer(o.api, o.clock, {
      kind: PODS,
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
      relistMs: 300_000,
      onError: (err) => o.log?.('Restarted the pod watch after an error', { error: (err as Error).message }),
    });
    this.informer.onChange((key) => this.enqueue(key));
  }

  start(): void {
    this.informer.start();
    const beat = (): void => {
      if (this.stopped) return;
      for (const n of this.o.nodes) if (!this.silent.has(n.name)) this.o.kubelet.heartbeat(n.name).catch(() => undefined);
      this.heartbeat = this.o.clock.after(10_000 * this.o.time.timeScale, beat);
    };
    this.heartbeat = this.o.clock.after(10_000 * this.o.time.timeScale, beat);
  }

  /** Stops (true) or resumes (false) a node's heartbeats; resuming reports it Ready at once. */
  silence(nodeName: string, silent: boolean): void {
    if (silent) this.silent.add(nodeName);
    else if (this.silent.delete(nodeName)) this.o.kubelet.heartbeat(nodeName).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.heartbeat?.cancel();
    await this.informer.stop();
    for (const r of this.running.values()) r.worker?.stop();
    await Promise.all([...this.chains.values()]);
  }

  private enqueue(key: string): void {
    if (this.stopped) return;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => this.sync(key))
      .catch((err: unknown) => {
        this.o.log?.('Failed to sync a pod; retrying', { pod: key, error: (err as Error).message });
        if (!this.stopped) this.o.clock.after(500, () => this.enqueue(key));
      });
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private gpuCount(spec: PodSpec): number {
    let n = 0;
    for (const c of spec.containers) n += Number(c.resources?.limits?.[this.o.gpuResource] ?? c.resources?.requests?.[this.o.gpuResource] ?? 0);
    return n;
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const pod = this.informer.get(namespace, name);
    const run = this.running.get(key);
    if (pod === undefined || pod.metadata.deletionTimestamp !== undefined) this.bound.delete(key);
    if (pod === undefined) {
      if (run !== undefined) this.finish(key, run);
      this.exited.delete(key);
      this.reported.delete(key);
      return;
    }
    const uid = pod.metadata.uid ?? '';
    if (run !== undefined && run.uid !== uid) this.finish(key, run);
    if (this.exited.has(key) && this.exited.get(key)!.uid !== uid) this.exited.delete(key); // a new pod of the same name
    const spec = pod['spec'] as PodSpec;
    const phase = (pod['status'] as { phase?: string } | undefined)?.phase ?? 'Pending';
    if (spec.nodeName === undefined || spec.nodeName === '') {
      if (this.o.schedule && pod.metadata.deletionTimestamp === undefined) await this.bind(pod, spec);
      return;
    }
    const node = this.byName.get(spec.nodeName);
    if (node === undefined) return; // another kubelet's pod
    if (pod.metadata.deletionTimestamp !== undefined) {
      const current = this.running.get(key);
      if (current !== undefined) this.finish(key, current);
      await this.o.kubelet.deletePodNow(namespace, name);
      return;
    }
    const exited = this.exited.get(key);
    if (exited !== undefined) return this.report(pod, exited.status);
    const current = this.running.get(key);
    if (current !== undefined) return this.report(pod, current.status);
    if (phase === 'Succeeded' || phase === 'Failed') return;
    await this.startPod(key, pod, spec, node);
  }

  /** Sends a pod's status unless the API server already took this phase for this UID; a failure throws (sync retries). */
  private async report(pod: KubeObject, status: Record<string, unknown>): Promise<void> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const uid = pod.metadata.uid ?? '';
    const phase = status['phase'] as string;
    const last = this.reported.get(key);
    if (last !== undefined && last.uid === uid && last.phase === phase) return;
    // Preconditioned on the UID: a status meant for a pod never lands on a new pod of the same name.
    await this.o.api.mergePatch(PODS, pod.metadata.namespace ?? 'default', pod.metadata.name, { metadata: { uid }, status }, { status: true });
    this.reported.set(key, { uid, phase });
  }

  private async bind(pod: KubeObject, spec: PodSpec): Promise<void> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (this.bound.has(key)) return;
    // Like the scheduler: a pod that does not tolerate the simulated nodes' taint never lands on one.
    if (!tolerates(spec.tolerations, SIMULATED_NODE_TAINT)) return;
    const want = this.gpuCount(spec);
    // GPUs promised to pods bound but not started yet (ours, and any the cache shows), like the scheduler's cache.
    const pending = new Map<string, number>();
    const counted = new Set<string>();
    for (const [k, b] of this.bound) {
      if (this.running.has(k)) continue;
      counted.add(k);
      pending.set(b.node, (pending.get(b.node) ?? 0) + b.gpus);
    }
    for (const p of this.informer.list()) {
      const k = `${p.metadata.namespace}/${p.metadata.name}`;
      const s = p['spec'] as PodSpec;
      const ph = (p['status'] as { phase?: string } | undefined)?.phase;
      if (counted.has(k) || this.running.has(k) || s.nodeName === undefined || s.nodeName === '' || ph === 'Succeeded' || ph === 'Failed') continue;
      pending.set(s.nodeName, (pending.get(s.nodeName) ?? 0) + this.gpuCount(s));
    }
    const node = this.o.nodes.find((n) => n.freeGpus().length - (pending.get(n.name) ?? 0) >= want);
    if (node === undefined) return; // unschedulable for now; a finishing pod re-triggers
    this.bound.set(key, { node: node.name, gpus: want });
    try {
      await this.o.kubelet.bindPod(pod.metadata.namespace ?? 'default', pod.metadata.name, node.name);
    } catch (err) {
      this.bound.delete(key);
      throw err;
    }
  }

  /** A container path through the pod's mounts: hostPath below the node root, downward-API files materialized. */
  private resolvePath(pod: KubeObject, spec: PodSpec, container: Container, node: SimNode, path: string): string | undefined {
    for (const m of container.volumeMounts ?? []) {
      const rel = posix.relative(m.mountPath, path);
      if (rel.startsWith('..') || posix.isAbsolute(rel)) continue;
      const vol = spec.volumes?.find((v) => v.name === m.name);
      if (vol?.hostPath !== undefined) return join(node.o.hostRoot, vol.hostPath.path, rel);
      const items = [...(vol?.downwardAPI?.items ?? []), ...(vol?.projected?.sources ?? []).flatMap((s) => s.downwardAPI?.items ?? [])];
      if (vol !== undefined && items.length > 0) {
        const dir = join(node.o.hostRoot, 'var/lib/kubelet/pods', pod.metadata.uid ?? pod.metadata.name, 'volumes', vol.name);
        mkdirSync(dir, { recursive: true });
        for (const item of items) if (item.fieldRef !== undefined) writeFileSync(join(dir, item.path), fieldValue(pod, item.fieldRef.fieldPath), { mode: 0o440 });
        return join(dir, rel);
      }
    }
    return undefined;
  }

  private async startPod(key: string, pod: KubeObject, spec: PodSpec, node: SimNode): Promise<void> {
    const namespace = pod.metadata.namespace ?? 'default';
    const gpus = node.allocate(key, this.gpuCount(spec));
    if (gpus === undefined) {
      // The GPUs are still held by pods that are terminating: try again shortly.
      this.o.clock.after(1000, () => this.enqueue(key));
      return;
    }
    this.bound.delete(key);
    const container = spec.containers[0]!;
    const env = new Map((container.env ?? []).map((e) => [e.name, e.value ?? '']));
    const socketIn = env.get(WORKER_ENV.agentSocket);
    const tokenFile = env.get(WORKER_ENV.tokenFile);
    const rank = env.get(WORKER_ENV.rank);
    const jobName = env.get(WORKER_ENV.job);
    let worker: SimWorker | undefined;
    if (socketIn !== undefined && tokenFile !== undefined && rank !== undefined && jobName !== undefined) {
      const socketPath = this.resolvePath(pod, spec, container, node, socketIn);
      const tokenPath = this.resolvePath(pod, spec, container, node, tokenFile);
      const job = await this.o.api.get(JOBS, namespace, jobName);
      const topology = (job?.['spec'] as { topology?: { stages: number; microbatches: number } } | undefined)?.topology;
      if (socketPath === undefined || tokenPath === undefined || topology === undefined) {
        this.o.log?.('Cannot start the simulated worker: the agent socket, token or job is missing', { pod: key });
      } else {
        const role = env.get(WORKER_ENV.role) === 'profiler' ? 'profiler' : 'worker';
        const iterations = role === 'profiler' ? Infinity : Number(env.get('SIM_ITERATIONS') ?? this.o.iterations);
        worker = new SimWorker(
          {
            namespace,
            pod: pod.metadata.name,
            rank,
            job: jobName,
            role,
            pipeline: Number(env.get(WORKER_ENV.pipeline) ?? 0),
            stage: Number(env.get(WORKER_ENV.stage) ?? 0),
            stages: topology.stages,
            microbatches: topology.microbatches,
            worldSize: Number(env.get('WORLD_SIZE') ?? topology.stages),
            socketPath,
            token: readFileSync(tokenPath, 'utf8'),
            gpus,
            iterations,
            attempt: Number(pod.metadata.labels?.[LABELS.restartAttempt] ?? 0) || 0,
            ...(this.o.straggler === undefined ? {} : { straggler: this.o.straggler }),
          },
          { time: this.o.time, fabric: this.o.fabric, receipts: node.receipts, ...(this.o.log === undefined ? {} : { log: this.o.log }) },
        );
        this.workers.set(key, worker);
      }
    }
    const now = new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = {
      phase: 'Running',
      startTime: now,
      hostIP: '10.0.0.1',
      podIP: `10.244.${this.o.nodes.indexOf(node)}.${(this.running.size % 250) + 2}`,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      containerStatuses: [{ name: container.name, ready: true, restartCount: 0, image: 'perseus-sim', imageID: '', started: true, state: { running: { startedAt: now } } }],
    };
    const run: Running = { worker, node, uid: pod.metadata.uid ?? '', status, finished: false };
    this.running.set(key, run);
    if (worker !== undefined) {
      void worker.done.then((exitCode) => {
        if (run.finished) return;
        this.finish(key, run);
        const at = new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
        this.exited.set(key, {
          uid: run.uid,
          status: {
            phase: exitCode === 0 ? 'Succeeded' : 'Failed',
            ...(exitCode === 0 ? {} : { reason: 'Error' }),
            conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: at }],
            containerStatuses: [{ name: container.name, ready: false, restartCount: 0, image: 'perseus-sim', imageID: '', state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: at } } }],
          },
        });
        this.enqueue(key);
      });
    }
    await this.report(pod, status);
  }

  private finish(key: string, run: Running): void {
    run.finished = true;
    run.worker?.stop();
    run.node.release(key);
    this.running.delete(key);
    this.workers.delete(key);
    // Peers of a killed worker hang in their collectives until their own pods go, as with NCCL; the world
    // (its rendezvous and barrier) ends with its last worker.
    const world = run.worker?.world;
    if (world !== undefined && ![...this.running.values()].some((r) => r.worker?.world === world)) this.o.fabric.dissolve(world);
    // Freed GPUs may let a pending pod schedule.
    if (this.o.schedule) for (const p of this.informer.list()) if ((p['spec'] as PodSpec).nodeName === undefined) this.enqueue(`${p.metadata.namespace}/${p.metadata.name}`);
  }
}
