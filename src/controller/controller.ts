// The running controller: informers (jobs, ranks, owned pods, services, ConfigMaps) feed job keys into the
// work queue; workers run reconcile(namespace/name) = observe → decide() → apply → status. Nothing happens
// inside informer callbacks.
import { randomBytes } from 'node:crypto';
import { API_VERSION, CONFIG_MAP_KEYS, configMapName, CONTROLLER_NAME, JOB_NAMES, LABELS, serviceName, TOKEN_ANNOTATION, type PerseusRank, type PerseusTrainingJob } from '../api/index.ts';
import type { Clock } from '../kube/clock.ts';
import { CONFIGMAPS, JOBS, PODS, RANKS, SERVICES, type KubeApi, type KubeObject, type ResourceKind } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Informer, objectKey } from '../kube/informer.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { decide, statusChanged } from './decide.ts';
import { jsonEqual } from './json-equal.ts';
import type { Decision, PodInfo } from './decision.ts';
import type { Logger } from './log.ts';
import type { ControllerMetrics } from './metrics.ts';
import { buildConfigMap, buildService } from './objects.ts';
import { applyOwned, configMapToApply, drifted, rankToApply, type FieldConflict } from './owned-writes.ts';
import type { PlannerService } from './planner-service.ts';
import { DEFAULT_NODE_LOST_GRACE_MS } from './failures.ts';
import { NodeWatch } from './nodes.ts';
import { cacheTransform, jobIndexKey } from './caches.ts';

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
  /** Sees every reconcile's duration (the benchmark's percentiles). */
  readonly onReconciled?: (seconds: number) => void;
}

/** A JSON merge patch turning `before` into `after` (removed keys become null; lists are replaced). */
export function mergeDiff(before: unknown, after: unknown): unknown {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(before) || !isObj(after)) return after;
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!(key in after) || after[key] === undefined) {
      if (key in before) patch[key] = null;
      continue;
    }
    if (jsonEqual(before[key], after[key])) continue;
    patch[key] = mergeDiff(before[key], after[key]);
  }
  return patch;
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first error after all settle. */
async function parallel<T>(items: readonly T[], fn: (item: T) => Promise<void>, limit = 8): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure;
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
  private workers: Promise<void>[] = [];
  private running = false;
  private readonly mintToken: () => string;
  private readonly nodeWatch: NodeWatch | undefined;
  private readonly nodeLostGraceMs: number;

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
      try {
        const requeueMs = await this.reconcile(key);
        this.queue.forget(key);
        if (requeueMs !== undefined) this.queue.addAfter(key, requeueMs);
        this.o.metrics.reconciles.inc({ result: 'success' });
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        this.o.metrics.reconciles.inc({ result: 'error' });
        this.o.metrics.reconcileErrors.inc();
        const [namespace, name] = key.split('/');
        this.o.logger.warn('Failed to reconcile; retrying', { namespace, name, error: (err as Error).message, retryInMs: delay });
      } finally {
        const seconds = (performance.now() - started) / 1000;
        this.o.metrics.reconcileDuration.observe(seconds);
        this.o.onReconciled?.(seconds);
        this.queue.done(key);
      }
    }
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

  /** One level-triggered pass over job `key` (namespace/name); returns a requeue delay. */
  async reconcile(key: string): Promise<number | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    const api = this.o.api;
    // The cached job may lag our own status write; the status patch is conditional on its resourceVersion,
    // so a decision from a stale copy fails with a conflict and is retried rather than applied.
    let cached: KubeObject | undefined;
    for (const inf of this.jobs) cached ??= inf.get(namespace, name);
    const job = cached as unknown as PerseusTrainingJob | undefined;
    if (job === undefined) {
      this.o.metrics.forgetJob(namespace, name);
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
    });
    await this.apply(job, decision, { cm, service, ranks }, log);
    return decision.requeueAfterMs;
  }

  /** Reports the fields another manager took over from an object of the job: a log line and a Warning event each. */
  private conflictReporter(target: Parameters<EventRecorder['record']>[0], log: Logger, what: string): (conflicts: readonly FieldConflict[]) => void {
    return (conflicts) => {
      for (const c of conflicts) {
        const outcome = c.forced ? "restored the controller's value" : 'left their value (the controller does not force this field)';
        log.warn('Found a field another manager changed', { object: what, manager: c.manager, field: c.field, forced: c.forced });
        void this.o.recorder.record(target, 'Warning', 'FieldConflict', `${what}: field ${c.field} is also managed by ${c.manager}; ${outcome}`);
      }
    };
  }

  /** Whether the job, with this UID, still exists and is not being deleted (a live read, not the cache). */
  private async stillExists(job: PerseusTrainingJob): Promise<boolean> {
    const live = await this.o.api.get(JOBS, job.metadata.namespace ?? 'default', job.metadata.name);
    const meta = live?.metadata as { uid?: string; deletionTimestamp?: string } | undefined;
    return meta !== undefined && meta.uid === job.metadata.uid && meta.deletionTimestamp === undefined;
  }

  /** Server-side apply of the job's objects (creates, drifted Service and ConfigMap, rank updates), deletes, then status. */
  private async apply(
    job: PerseusTrainingJob,
    d: Decision,
    observed: { readonly cm: KubeObject | undefined; readonly service: KubeObject | undefined; readonly ranks: ReadonlyMap<string, PerseusRank> },
    log: Logger,
  ): Promise<void> {
    const api = this.o.api;
    const namespace = job.metadata.namespace ?? 'default';
    const name = job.metadata.name;
    const target = { apiVersion: API_VERSION, kind: JOB_NAMES.kind, namespace, name, ...(job.metadata.uid === undefined ? {} : { uid: job.metadata.uid }) };
    const kinds: Record<string, ResourceKind> = { Pod: PODS, Service: SERVICES, PerseusRank: RANKS, ConfigMap: CONFIGMAPS };

    if (d.solve !== undefined) {
      const key = `${namespace}/${name}`;
      this.o.planner.request(d.solve, () => this.queue.add(key));
    }
    // The cache may still hold a job that was just deleted: an apply that creates a child would then
    // create an orphan (removed later by the garbage collector). Writes that may create are preceded by a
    // read of the job itself.
    if ((d.creates.length > 0 || d.rankPatches.length > 0 || d.configMapData !== undefined) && !(await this.stillExists(job))) {
      log.info('The job was deleted; its children are not written');
      return;
    }
    // Another manager's change to a field the controller forces brings the object back to what it applies.
    const { cm, service } = observed;
    const cmMeta = cm === undefined ? undefined : buildConfigMap(job, {});
    if (cmMeta !== undefined) delete cmMeta['data'];
    if (d.configMapData !== undefined || (cm !== undefined && cmMeta !== undefined && drifted(cm, cmMeta))) {
      const { object, existed } = await configMapToApply(api, job, d.configMapData ?? {});
      await applyOwned(api, CONFIGMAPS, namespace, object, this.conflictReporter(target, log, `ConfigMap ${configMapName(name)}`));
      if (!existed) log.info('Created ConfigMap', { configMap: configMapName(name) });
    }
    if (service !== undefined && drifted(service, buildService(job))) {
      await applyOwned(api, SERVICES, namespace, buildService(job), this.conflictReporter(target, log, `Service ${service.metadata.name}`));
    }
    // Services and ranks before pods (a pod's rank carries its token hash); each group in parallel. A pod's
    // spec is immutable: it is applied only when absent, so its apply creates it and records the ownership.
    const create = async (c: Decision['creates'][number]): Promise<void> => {
      const kind = kinds[c.kind];
      if (kind === undefined) return;
      await applyOwned(api, kind, namespace, c.object, this.conflictReporter(target, log, `${c.kind} ${c.object.metadata.name}`));
      log.info(`Created ${c.kind}`, { object: c.object.metadata.name });
      void this.o.recorder.record(target, 'Normal', 'Created', `Created ${c.kind} ${c.object.metadata.name}`);
    };
    await parallel(d.creates.filter((c) => c.kind !== 'Pod'), create);
    await parallel(d.creates.filter((c) => c.kind === 'Pod'), create);
    await parallel(d.rankPatches, async ({ name: rank, patch }) => {
      const object = rankToApply(job, rank, observed.ranks.get(rank), patch);
      await applyOwned(api, RANKS, namespace, object, this.conflictReporter(target, log, `PerseusRank ${rank}`));
    });
    for (const { name: pod, reason, force } of d.podDeletes) {
      if (await api.delete(PODS, namespace, pod, force === true ? { gracePeriodSeconds: 0 } : {})) {
        log.info('Deleted pod', { pod, reason, ...(force === true ? { gracePeriodSeconds: 0 } : {}) });
        void this.o.recorder.record(target, 'Normal', 'Deleted', `Deleted pod ${pod} (${reason})`);
      }
    }
    if (statusChanged(job.status, d.status)) {
      // The resourceVersion makes the write conditional: a status computed from a stale job is retried. The
      // controller is the status's only writer, so a merge patch (manager perseus-operator) rather than an apply.
      const patch = { metadata: { resourceVersion: job.metadata.resourceVersion }, status: mergeDiff(job.status ?? {}, d.status) };
      await api.mergePatch(JOBS, namespace, name, patch, { status: true });
      if (d.status.phase !== job.status?.phase) log.info('Changed phase', { from: job.status?.phase ?? 'None', to: d.status.phase });
    }
    for (const e of d.events) {
      (e.type === 'Warning' ? log.warn.bind(log) : log.info.bind(log))(e.message, { reason: e.reason });
      void this.o.recorder.record(target, e.type, e.reason, e.message);
    }
    if (d.replanned) this.o.metrics.replans.inc();
    const ratio = d.status.plan?.expectedSavingsRatio;
    if (ratio !== undefined) this.o.metrics.savings.set({ namespace, name }, ratio);
    if (d.status.phase !== undefined) this.o.metrics.observeJob(namespace, name, d.status.phase, d.status.stragglers?.length ?? 0);
    if (d.deleteJob) {
      await api.delete(JOBS, namespace, name, { propagation: 'Background' });
      log.info('Deleted the finished job after ttlSecondsAfterFinished');
    }
  }

  /** Keys of every job in the caches (used by tests and the benchmark). */
  jobKeys(): string[] {
    return this.jobs.flatMap((i) => i.list().map(objectKey));
  }
}
