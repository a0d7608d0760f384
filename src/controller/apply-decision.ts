// Writing one decision of decide(): server-side applies of the job's objects, pod deletes, the status patch
// and the events, in that order, with one log line and one event per kind for what a pass created.
import { API_VERSION, configMapName, JOB_NAMES, type PerseusRank, type PerseusTrainingJob } from '../api/index.ts';
import { CONFIGMAPS, JOBS, PODS, RANKS, SERVICES, type KubeApi, type KubeObject, type ResourceKind } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { ForwardingApi, type KubeVerb } from '../kube/forwarding-api.ts';
import { statusChanged } from './decide.ts';
import type { Decision } from './decision.ts';
import { jsonEqual } from './json-equal.ts';
import type { Logger } from './log.ts';
import type { ControllerMetrics } from './metrics.ts';
import { buildConfigMap, buildService } from './objects.ts';
import { applyOwned, configMapToApply, drifted, rankToApply, type FieldConflict, type YieldedKeys } from './owned-writes.ts';
import type { PlannerService } from './planner-service.ts';

/** What writing a decision needs of the controller. */
export interface ApplyDeps {
  readonly api: KubeApi;
  readonly recorder: EventRecorder;
  readonly planner: PlannerService;
  readonly metrics: ControllerMetrics;
  /** Queues the job key again (a solve it waits for is done). */
  readonly requeue: (key: string) => void;
  /** The unforced fields yielded to other managers (met and reported once per object). */
  readonly yielded: YieldedKeys;
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

/** "Created Pod a" or "Created 25 Pods: a, b, … (and 3 more)", within an event message's 1024 characters. */
export function createdMessage(kind: string, names: readonly string[]): string {
  const sorted = [...names].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (sorted.length === 1) return `Created ${kind} ${sorted[0] ?? ''}`;
  const head = `Created ${sorted.length} ${kind}s: `;
  let listed = '';
  let shown = 0;
  for (const name of sorted) {
    const next = shown === 0 ? name : `${listed}, ${name}`;
    const rest = sorted.length - shown - 1;
    if (head.length + next.length + (rest > 0 ? ` (and ${rest} more)`.length : 0) > 1000) break;
    listed = next;
    shown++;
  }
  return shown === sorted.length ? head + listed : `${head + listed} (and ${sorted.length - shown} more)`;
}

/** Reports the fields another manager took over from an object of the job: a log line and a Warning event each. */
function conflictReporter(recorder: EventRecorder, target: Parameters<EventRecorder['record']>[0], log: Logger, what: string): (conflicts: readonly FieldConflict[]) => void {
  return (conflicts) => {
    for (const c of conflicts) {
      const outcome = c.forced ? "restored the controller's value" : 'left their value (the controller does not force this field)';
      log.warn('Found a field another manager changed', { object: what, manager: c.manager, field: c.field, forced: c.forced });
      void recorder.record(target, 'Warning', 'FieldConflict', `${what}: field ${c.field} is also managed by ${c.manager}; ${outcome}`);
    }
  };
}

/** Whether the job, with this UID, still exists and is not being deleted (a live read, not the cache). */
async function stillExists(api: KubeApi, job: PerseusTrainingJob): Promise<boolean> {
  const live = await api.get(JOBS, job.metadata.namespace ?? 'default', job.metadata.name);
  const meta = live?.metadata as { uid?: string; deletionTimestamp?: string } | undefined;
  return meta !== undefined && meta.uid === job.metadata.uid && meta.deletionTimestamp === undefined;
}

/** A KubeApi that counts the writes (create, patch, apply, replace, delete) sent through it. */
class WriteCounter extends ForwardingApi {
  writes = 0;
  protected around<T>(verb: KubeVerb, call: Promise<T>): Promise<T> {
    if (verb !== 'list' && verb !== 'get' && verb !== 'watch') this.writes++;
    return call;
  }
}

/** Server-side apply of the job's objects (creates, drifted Service and ConfigMap, rank updates), deletes, then status; returns the number of writes sent. */
export async function applyDecision(
  deps: ApplyDeps,
  job: PerseusTrainingJob,
  d: Decision,
  observed: { readonly cm: KubeObject | undefined; readonly service: KubeObject | undefined; readonly ranks: ReadonlyMap<string, PerseusRank> },
  log: Logger,
): Promise<number> {
  const { recorder, metrics } = deps;
  // Counts the writes this pass sends (the benchmark tells passes that write from those that do not).
  const api = new WriteCounter(deps.api);
  const namespace = job.metadata.namespace ?? 'default';
  const name = job.metadata.name;
  const target = { apiVersion: API_VERSION, kind: JOB_NAMES.kind, namespace, name, ...(job.metadata.uid === undefined ? {} : { uid: job.metadata.uid }) };
  const kinds: Record<string, ResourceKind> = { Pod: PODS, Service: SERVICES, PerseusRank: RANKS, ConfigMap: CONFIGMAPS };

  if (d.solve !== undefined) {
    const key = `${namespace}/${name}`;
    deps.planner.request(d.solve, () => deps.requeue(key));
  }
  // The cache may still hold a job that was just deleted: an apply that creates a child would then
  // create an orphan (removed later by the garbage collector). Writes that may create are preceded by a
  // read of the job itself.
  if ((d.creates.length > 0 || d.rankPatches.length > 0 || d.configMapData !== undefined) && !(await stillExists(api, job))) {
    log.info('The job was deleted; its children are not written');
    return 0;
  }
  // Another manager's change to a field the controller forces brings the object back to what it applies.
  const { cm, service } = observed;
  const cmMeta = cm === undefined ? undefined : buildConfigMap(job, {});
  if (cmMeta !== undefined) delete cmMeta['data'];
  if (d.configMapData !== undefined || (cm !== undefined && cmMeta !== undefined && drifted(cm, cmMeta))) {
    const { object, existed } = await configMapToApply(api, job, d.configMapData ?? {});
    await applyOwned(api, CONFIGMAPS, namespace, object, conflictReporter(recorder, target, log, `ConfigMap ${configMapName(name)}`), deps.yielded);
    if (!existed) log.info('Created ConfigMap', { configMap: configMapName(name) });
  }
  if (service !== undefined && drifted(service, buildService(job))) {
    await applyOwned(api, SERVICES, namespace, buildService(job), conflictReporter(recorder, target, log, `Service ${service.metadata.name}`), deps.yielded);
  }
  // Services and ranks before pods (a pod's rank carries its token hash); each group in parallel. A pod's
  // spec is immutable: it is applied only when absent, so its apply creates it and records the ownership.
  // One log line and one event per kind for what a pass created (a job's 50 children would otherwise
  // double the writes with events), also when some of the creates failed.
  const created = new Map<string, string[]>();
  const create = async (c: Decision['creates'][number]): Promise<void> => {
    const kind = kinds[c.kind];
    if (kind === undefined) return;
    await applyOwned(api, kind, namespace, c.object, conflictReporter(recorder, target, log, `${c.kind} ${c.object.metadata.name}`), deps.yielded);
    created.set(c.kind, [...(created.get(c.kind) ?? []), c.object.metadata.name]);
  };
  try {
    await parallel(d.creates.filter((c) => c.kind !== 'Pod'), create);
    await parallel(d.creates.filter((c) => c.kind === 'Pod'), create);
  } finally {
    for (const [kind, names] of created) {
      log.info(`Created ${kind}`, { objects: names.length === 1 ? names[0] : names });
      void recorder.record(target, 'Normal', 'Created', createdMessage(kind, names));
    }
  }
  await parallel(d.rankPatches, async ({ name: rank, patch }) => {
    const object = rankToApply(job, rank, observed.ranks.get(rank), patch);
    await applyOwned(api, RANKS, namespace, object, conflictReporter(recorder, target, log, `PerseusRank ${rank}`), deps.yielded);
  });
  for (const { name: pod, reason, force } of d.podDeletes) {
    if (await api.delete(PODS, namespace, pod, force === true ? { gracePeriodSeconds: 0 } : {})) {
      log.info('Deleted pod', { pod, reason, ...(force === true ? { gracePeriodSeconds: 0 } : {}) });
      void recorder.record(target, 'Normal', 'Deleted', `Deleted pod ${pod} (${reason})`);
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
    void recorder.record(target, e.type, e.reason, e.message);
  }
  if (d.replanned) metrics.replans.inc();
  const ratio = d.status.plan?.expectedSavingsRatio;
  if (ratio !== undefined) metrics.savings.set({ namespace, name }, ratio);
  if (d.status.phase !== undefined) metrics.observeJob(namespace, name, d.status.phase, d.status.stragglers?.length ?? 0);
  if (d.deleteJob) {
    await api.delete(JOBS, namespace, name, { propagation: 'Background' });
    log.info('Deleted the finished job after ttlSecondsAfterFinished');
  }
  return api.writes;
}
