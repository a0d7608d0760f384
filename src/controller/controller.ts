// The running controller: informers (jobs, ranks, owned pods, services, ConfigMaps) feed job keys into the
// work queue; workers run reconcile(namespace/name) = observe → decide() → apply → status. Nothing happens
// inside informer callbacks.
import { randomBytes } from 'node:crypto';
import { CONFIG_MAP_KEYS, configMapName, CONTROLLER_NAME, LABELS, serviceName, TOKEN_ANNOTATION, type PerseusRank, type PerseusTrainingJob } from '../api/index.ts';
import type { Clock } from '../kube/clock.ts';
import { CONFIGMAPS, JOBS, PODS, RANKS, SERVICES, type KubeApi, type KubeObject, type ResourceKind } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { KubeError } from '../kube/errors.ts';
import { Informer, objectKey } from '../kube/informer.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { applyDecision } from './apply-decision.ts';
import { YieldedKeys } from './owned-writes.ts';
import { decide } from './decide.ts';
import type { PodInfo } from './decision.ts';
import type { Logger } from './log.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { PlannerService } from './planner-service.ts';
import { DEFAULT_NODE_LOST_GRACE_MS } from './failures.ts';
import { NodeWatch } from './nodes.ts';
import { cacheTransform, jobIndexKey, listPageSize } from './caches.ts';

/** What one reconcile did: decide()'s time (the controller's own computing) and the writes it sent. */
export interface ReconcilePass {
  decideSeconds: number;
  writes: number;
}

export interface ControllerOptions {
  readonly api: KubeApi;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics;
  readonly planner: PlannerService;
  readonly recorder: EventRecorder;
  /** Namespaces to watch; undefined: all. */
  readonly namespaces?: readonly string[];
  readonly workers?: number;
  readonly relistMs?: number;
  readonly watchTimeoutSeconds?: number;
  /** Token source for new pods (tests inject a deterministic one). */
  readonly mintToken?: () => string;
  /** A pod whose node is NotReady this long is lost and its job restarts (default 5 minutes); 0: Nodes are not watched. */
  readonly nodeLostGraceMs?: number;
  /** Sees every reconcile's duration, the part of it decide() took, and the writes it sent (the benchmark's percentiles). */
  readonly onReconciled?: (seconds: number, pass: ReconcilePass) => void;
}

function podInfo(obj: KubeObject): PodInfo {
  const labels = obj.metadata.labels ?? {};
  const status = (obj['status'] ?? {}) as { phase?: string; reason?: string };
  const spec = (obj['spec'] ?? {}) as { nodeName?: string };
  const token = obj.metadata.annotations?.[TOKEN_ANNOTATION];
  return {
    name: obj.metadata.name,
    uid: obj.metadata.uid ?? '',
    role: labels[LABELS.role] === 'profiler' ? 'profiler' : 'worker',
    pipeline: Number(labels[LABELS.pipeline] ?? 0),
    stage: Number(labels[LABELS.stage] ?? 0),
    phase: status.phase ?? 'Pending',
    deleting: obj.metadata.deletionTimestamp !== undefined,
    attempt: Number(labels[LABELS.restartAttempt] ?? 0) || 0,
    ...(spec.nodeName === undefined || spec.nodeName === '' ? {} : { nodeName: spec.nodeName }),
    ...(token === undefined ? {} : { token }),
    ...(status.reason === undefined ? {} : { reason: status.reason }),
  };
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly jobs: Informer[] = [];
  private readonly children = new Map<ResourceKind, Informer[]>();
  /** Per job (namespace/name): its scheduled pods seen deleted while it ran them, by pod name (noteDeletedPod). */
  private readonly vanished = new Map<string, Map<string, PodInfo>>();
  private workers: Promise<void>[] = [];
  private running = false;
  private readonly mintToken: () => string;
  private readonly nodeWatch: NodeWatch | undefined;
  private readonly nodeLostGraceMs: number;
  private readonly yielded = new YieldedKeys();

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue(o.clock, { baseDelayMs: 200, maxDelayMs: 60_000 });
    this.mintToken = o.mintToken ?? (() => randomBytes(32).toString('base64url'));
    const namespaces: (string | undefined)[] = o.namespaces === undefined || o.namespaces.length === 0 ? [undefined] : [...o.namespaces];
    const informer = (kind: ResourceKind, ns: string | undefined, labelSelector?: string): Informer =>
      new Informer(o.api, o.clock, {
        kind,
        ...(ns === undefined ? {} : { namespace: ns }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
        relistMs: o.relistMs ?? 300_000,
        watchTimeoutSeconds: o.watchTimeoutSeconds ?? 300,
        onError: (err) => o.logger.warn('Restarted a watch after an error', { resource: kind.plural, namespace: ns, error: (err as Error).message }),
        transform: cacheTransform(kind),
        pageSize: listPageSize(kind),
        ...(kind === JOBS ? {} : { indexBy: jobIndexKey }),
      });
    this.nodeLostGraceMs = o.nodeLostGraceMs ?? DEFAULT_NODE_LOST_GRACE_MS;
    this.nodeWatch =
      this.nodeLostGraceMs > 0
        ? new NodeWatch({
            api: o.api,
            clock: o.clock,
            relistMs: o.relistMs ?? 300_000,
            watchTimeoutSeconds: o.watchTimeoutSeconds ?? 300,
            onError: (err) => o.logger.warn('Restarted a watch after an error', { resource: 'nodes', error: (err as Error).message }),
            onReadinessChange: (node) => this.enqueueJobsOn(node),
          })
        : undefined;
    for (const ns of namespaces) {
      const jobs = informer(JOBS, ns);
      jobs.onChange((key) => this.queue.add(key));
      this.jobs.push(jobs);
      for (const kind of [RANKS, PODS, SERVICES, CONFIGMAPS]) {
        const inf = informer(kind, ns, LABELS.job);
        inf.onChange((_key, obj, previous) => {
          const o2 = obj ?? previous;
          const job = o2?.metadata.labels?.[LABELS.job];
          if (kind === PODS && obj === undefined && previous !== undefined) this.noteDeletedPod(previous);
          if (o2 !== undefined && job !== undefined) this.queue.add(`${o2.metadata.namespace ?? ''}/${job}`);
        });
        const list = this.children.get(kind) ?? [];
        list.push(inf);
        this.children.set(kind, list);
      }
    }
  }

  /** Job counts by phase (for the metrics gauge). */
  phaseCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const inf of this.jobs) {
      for (const job of inf.list()) {
        const phase = ((job['status'] as { phase?: string } | undefined)?.phase ?? 'Pending') as string;
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
    }
    return counts;
  }

  get synced(): boolean {
    // Nodes are not waited for: until they are listed, no pod counts as lost to its node.
    return [...this.jobs, ...[...this.children.values()].flat()].every((i) => i.hasSynced);
  }

  /** Reconciles every job with a pod on `node` (its readiness changed). */
  private enqueueJobsOn(node: string): void {
    for (const inf of this.children.get(PODS) ?? []) {
      for (const pod of inf.list()) {
        const job = pod.metadata.labels?.[LABELS.job];
        if (job !== undefined && (pod['spec'] as { nodeName?: string } | undefined)?.nodeName === node) this.queue.add(`${pod.metadata.namespace ?? ''}/${job}`);
      }
    }
  }

  /** Starts informers and, once they have listed, the workers. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (const inf of [...this.jobs, ...[...this.children.values()].flat()]) inf.start();
    this.nodeWatch?.start();
    while (this.running && !this.synced) await new Promise((r) => setTimeout(r, 20));
    if (!this.running) return;
    this.o.logger.info('Started the controller', { namespaces: this.o.namespaces ?? 'all', workers: this.o.workers ?? 4 });
    this.workers = Array.from({ length: this.o.workers ?? 4 }, () => this.work());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.queue.shutDown();
    await Promise.all([...this.jobs, ...[...this.children.values()].flat()].map((i) => i.stop()));
    await this.nodeWatch?.stop();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      const pass: ReconcilePass = { decideSeconds: 0, writes: 0 };
      try {
        const requeueMs = await this.reconcile(key, pass);
        this.queue.forget(key);
        if (requeueMs !== undefined) this.queue.addAfter(key, requeueMs);
        this.o.metrics.reconciles.inc({ result: 'success' });
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        if (err instanceof KubeError && err.isConflict && !err.isAlreadyExists) {
          // A write conditional on the cached resourceVersion met a newer object: the cache lagged, nothing
          // failed. The watch brings the newer object and the pass is retried on it.
          this.o.metrics.reconciles.inc({ result: 'conflict' });
          this.o.logger.debug('Retrying a reconcile whose cached object was stale', { key, error: err.message, retryInMs: delay });
          continue;
        }
        this.o.metrics.reconciles.inc({ result: 'error' });
        this.o.metrics.reconcileErrors.inc();
        const [namespace, name] = key.split('/');
        this.o.logger.warn('Failed to reconcile; retrying', { namespace, name, error: (err as Error).message, retryInMs: delay });
      } finally {
        const seconds = (performance.now() - started) / 1000;
        this.o.metrics.reconcileDuration.observe(seconds);
        this.o.onReconciled?.(seconds, pass);
        this.queue.done(key);
      }
    }
  }

  /**
   * Remembers a scheduled pod of the current attempt that was deleted while its job ran it (a worker while
   * Running, a profiling pod while Profiling), unless the job is being suspended: its rank may not have
   * recorded the pod's UID yet, and such a pod is still a lost member of the gang (Observed.vanishedPods).
   */
  private noteDeletedPod(pod: KubeObject): void {
    const jobName = pod.metadata.labels?.[LABELS.job];
    if (jobName === undefined) return;
    const namespace = pod.metadata.namespace ?? '';
    const info = podInfo(pod);
    if (info.nodeName === undefined || info.phase === 'Succeeded' || info.phase === 'Failed') return;
    let job: KubeObject | undefined;
    for (const inf of this.jobs) job ??= inf.get(namespace, jobName);
    if (job === undefined || !pod.metadata.ownerReferences?.some((ref) => ref.uid === job.metadata.uid)) return;
    const status = job['status'] as { phase?: string; restarts?: number } | undefined;
    const suspended = (job['spec'] as { runPolicy?: { suspend?: boolean } } | undefined)?.runPolicy?.suspend === true;
    const active = status?.phase === (info.role === 'worker' ? 'Running' : 'Profiling');
    if (suspended || !active || info.attempt !== (status?.restarts ?? 0)) return;
    const key = `${namespace}/${jobName}`;
    const pods = this.vanished.get(key) ?? new Map<string, PodInfo>();
    pods.set(info.name, info);
    this.vanished.set(key, pods);
  }

  /** The job's vanished pods that still matter: of its current attempt, while it runs or profiles. */
  private vanishedOf(key: string, job: PerseusTrainingJob): ReadonlyMap<string, PodInfo> | undefined {
    const pods = this.vanished.get(key);
    if (pods === undefined) return undefined;
    const attempt = job.status?.restarts ?? 0;
    if (job.status?.phase !== 'Running' && job.status?.phase !== 'Profiling') pods.clear();
    for (const [name, pod] of pods) if (pod.attempt < attempt) pods.delete(name);
    if (pods.size === 0) this.vanished.delete(key);
    return pods.size === 0 ? undefined : pods;
  }

  private childrenOf(kind: ResourceKind, namespace: string, job: string): KubeObject[] {
    return (this.children.get(kind) ?? []).flatMap((inf) => inf.byIndex(`${namespace}/${job}`));
  }

  /** The planner's state of frontier `k`; a job that finds it being solved is requeued when it is in. */
  private frontierOf(k: string | undefined, job: string): ReturnType<PlannerService['state']> {
    const state = this.o.planner.state(k);
    if (state.state === 'solving' && k !== undefined) this.o.planner.whenSolved(k, () => this.queue.add(job));
    return state;
  }

  /** One level-triggered pass over job `key` (namespace/name); returns a requeue delay. `pass` gets what it did. */
  async reconcile(key: string, pass: ReconcilePass = { decideSeconds: 0, writes: 0 }): Promise<number | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    const api = this.o.api;
    // The cached job may lag our own status write; the status patch is conditional on its resourceVersion,
    // so a decision from a stale copy fails with a conflict and is retried rather than applied.
    let cached: KubeObject | undefined;
    for (const inf of this.jobs) cached ??= inf.get(namespace, name);
    const job = cached as unknown as PerseusTrainingJob | undefined;
    if (job === undefined) {
      this.o.metrics.forgetJob(namespace, name);
      this.vanished.delete(key);
      return undefined;
    }
    if (job.metadata.deletionTimestamp !== undefined) return undefined;
    const managedBy = (job.spec as { managedBy?: string } | undefined)?.managedBy;
    // Another controller's job is left alone, unless managedBy was changed after this one accepted it
    // (decide() then fails it as an invalid, immutable-field change).
    if (managedBy !== undefined && managedBy !== CONTROLLER_NAME && job.status?.accepted === undefined) return undefined;
    const log = this.o.logger.child({ namespace, name });

    const ranks = new Map<string, PerseusRank>();
    for (const r of this.childrenOf(RANKS, namespace, name)) ranks.set(r.metadata.name, r as unknown as PerseusRank);
    const pods = new Map<string, PodInfo>();
    for (const p of this.childrenOf(PODS, namespace, name)) if (p.metadata.ownerReferences?.some((ref) => ref.uid === job.metadata.uid)) pods.set(p.metadata.name, podInfo(p));
    const service = this.childrenOf(SERVICES, namespace, name).find((s) => s.metadata.name === serviceName(name));
    const serviceExists = service !== undefined;
    const cm = this.childrenOf(CONFIGMAPS, namespace, name).find((c) => c.metadata.name === configMapName(name));
    const ref = job.spec?.profiling?.profileRef;
    const stored = (cm?.['data'] as Record<string, string> | undefined)?.[CONFIG_MAP_KEYS.profile] !== undefined;
    const refObj = ref === undefined || stored ? undefined : await api.get(CONFIGMAPS, namespace, ref.configMapName);

    const vanishedPods = this.vanishedOf(key, job);
    const decideStarted = performance.now();
    const decision = decide({
      job,
      ranks,
      pods,
      serviceExists,
      configMap: cm === undefined ? undefined : ((cm['data'] ?? {}) as Record<string, string>),
      profileRefData: refObj === undefined ? undefined : ((refObj['data'] ?? {}) as Record<string, string>),
      frontierOf: (k) => this.frontierOf(k, key),
      nowMs: this.o.clock.now(),
      mintToken: () => this.mintToken(),
      ...(this.nodeWatch === undefined ? {} : { nodes: this.nodeWatch.nodes }),
      nodeLostGraceMs: this.nodeLostGraceMs,
      ...(vanishedPods === undefined ? {} : { vanishedPods }),
    });
    pass.decideSeconds = (performance.now() - decideStarted) / 1000;
    pass.writes = await applyDecision({ api, recorder: this.o.recorder, planner: this.o.planner, metrics: this.o.metrics, requeue: (k) => this.queue.add(k), yielded: this.yielded }, job, decision, { cm, service, ranks }, log);
    return decision.requeueAfterMs;
  }

  /** Keys of every job in the caches (used by tests and the benchmark). */
  jobKeys(): string[] {
    return this.jobs.flatMap((i) => i.list().map(objectKey));
  }
}
