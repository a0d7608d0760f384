// Writes of the objects a job owns (pods, the headless service, PerseusRanks, the <job>-perseus ConfigMap)
// by server-side apply under field manager perseus-operator: another manager's fields survive, and a field
// another manager took over is reported; the controller re-asserts (forces) only the fields it computes.
import { CONFIG_MAP_KEYS, configMapName, GROUP, LABELS, type PerseusRank, type PerseusTrainingJob, type RankSpec } from '../api/index.ts';
import { CONFIGMAPS, type KubeApi, type KubeObject, type ResourceKind } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import { buildConfigMap, buildRank } from './objects.ts';

/** A field of an applied object that another manager owns with a different value (from the 409's causes). */
export interface FieldConflict {
  /** As kube-apiserver names it: `"name"` for an applier, `"name" using v1` for an updater. */
  readonly manager: string;
  /** As kube-apiserver names it, for example `.metadata.labels.team` or `.spec.ports[port=29500,protocol="TCP"].targetPort`. */
  readonly field: string;
  /** True: the controller took the field back (force); false: it left the other manager's value. */
  readonly forced: boolean;
}

type Meta = Record<string, unknown> & { labels?: Record<string, string>; annotations?: Record<string, string> };

/**
 * Whether the controller forces a label or annotation key: its own (perseus.energy/…) ones, which it needs to
 * find and serve the object. The ones it only passes along (the pod template's, app.kubernetes.io/managed-by)
 * yield to another manager's value. Every other field (spec, data, owner references) is forced.
 */
export function forcedMetadataKey(key: string): boolean {
  return key.startsWith(`${GROUP}/`);
}

/** The conflicts of a failed apply, or undefined when `err` is not a field-manager conflict. */
export function fieldConflictsOf(err: unknown): { manager: string; field: string }[] | undefined {
  if (!(err instanceof KubeError) || err.code !== 409) return undefined;
  const body = (err.cause as { body?: unknown } | undefined)?.body;
  if (typeof body !== 'string') return undefined;
  let causes: unknown;
  try {
    causes = (JSON.parse(body) as { details?: { causes?: unknown } }).details?.causes;
  } catch {
    return undefined;
  }
  if (!Array.isArray(causes)) return undefined;
  const out: { manager: string; field: string }[] = [];
  for (const c of causes as { reason?: unknown; message?: unknown; field?: unknown }[]) {
    if (c.reason !== 'FieldManagerConflict' || typeof c.field !== 'string') continue;
    const manager = typeof c.message === 'string' ? c.message.replace(/^conflict with /, '') : 'unknown';
    out.push({ manager, field: c.field });
  }
  return out.length > 0 ? out : undefined;
}

/** The label or annotation of `object` a conflict names, when it is one the controller does not force. */
function yieldedKey(object: KubeObject, field: string): YieldedKey | undefined {
  for (const map of ['labels', 'annotations'] as const) {
    for (const key of Object.keys(object.metadata[map] ?? {})) {
      if (field === `.metadata.${map}.${key}` && !forcedMetadataKey(key)) return { map, key };
    }
  }
  return undefined;
}

function withoutKeys(object: KubeObject, drop: readonly YieldedKey[]): KubeObject {
  if (drop.length === 0) return object;
  const meta: Meta = { ...object.metadata };
  for (const map of ['labels', 'annotations'] as const) {
    const kept = Object.fromEntries(Object.entries(meta[map] ?? {}).filter(([k]) => !drop.some((d) => d.map === map && d.key === k)));
    if (Object.keys(kept).length > 0) meta[map] = kept;
    else delete meta[map];
  }
  return { ...object, metadata: meta as KubeObject['metadata'] };
}

/** Whether `live` holds every value of `desired` (objects by key, lists item by item; extra fields allowed). */
export function holds(live: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => holds(live[i], d));
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => holds((live as Record<string, unknown>)[k], v));
  }
  return live === desired;
}

/** Whether `live` lacks a value of `desired` the controller forces (an unforced label or annotation may differ). */
export function drifted(live: KubeObject, desired: KubeObject): boolean {
  const forcedOnly = withoutKeys(desired, [
    ...Object.keys(desired.metadata.labels ?? {}).filter((k) => !forcedMetadataKey(k)).map((key) => ({ map: 'labels' as const, key })),
    ...Object.keys(desired.metadata.annotations ?? {}).filter((k) => !forcedMetadataKey(k)).map((key) => ({ map: 'annotations' as const, key })),
  ]);
  const { apiVersion: _a, kind: _k, ...rest } = forcedOnly;
  return !holds(live, rest);
}

type YieldedKey = { map: 'labels' | 'annotations'; key: string };

/**
 * The unforced labels and annotations the controller yielded to another manager, per object: later applies
 * leave them out from the start, so the conflict is met (and reported) once per object and process rather
 * than on every write. Bounded: past `limit` objects the oldest entry is forgotten (its next apply meets
 * the conflict once more).
 */
export class YieldedKeys {
  private readonly byObject = new Map<string, YieldedKey[]>();
  constructor(private readonly limit = 10_000) {}

  private static id(kind: ResourceKind, namespace: string, name: string): string {
    return `${kind.plural}.${kind.group}/${namespace}/${name}`;
  }

  of(kind: ResourceKind, namespace: string, name: string): readonly YieldedKey[] {
    return this.byObject.get(YieldedKeys.id(kind, namespace, name)) ?? [];
  }

  add(kind: ResourceKind, namespace: string, name: string, keys: readonly YieldedKey[]): void {
    if (keys.length === 0) return;
    const id = YieldedKeys.id(kind, namespace, name);
    const known = this.byObject.get(id) ?? [];
    this.byObject.delete(id);
    this.byObject.set(id, [...known, ...keys.filter((k) => !known.some((d) => d.map === k.map && d.key === k.key))]);
    if (this.byObject.size > this.limit) this.byObject.delete(this.byObject.keys().next().value as string);
  }

  get size(): number {
    return this.byObject.size;
  }
}

/**
 * Applies `object` without force; on a field-manager conflict, reports it through `report`, drops the
 * conflicting fields the controller does not force and applies again, forcing the ones it does. With
 * `yielded`, the dropped fields are remembered and left out of the object's later applies (no conflict,
 * no report); without it, every write meets and reports them again. Only the Service and ConfigMap are
 * rewritten on drift of a forced field.
 */
export async function applyOwned(
  api: KubeApi,
  kind: ResourceKind,
  namespace: string,
  object: KubeObject,
  report: (conflicts: readonly FieldConflict[]) => void,
  yielded?: YieldedKeys,
): Promise<KubeObject> {
  const name = object.metadata.name;
  const desired = withoutKeys(object, [...(yielded?.of(kind, namespace, name) ?? [])]);
  try {
    return await api.apply(kind, namespace, desired);
  } catch (err) {
    const found = fieldConflictsOf(err);
    if (found === undefined) throw err;
    const conflicts = found.map((c) => ({ ...c, forced: yieldedKey(desired, c.field) === undefined }));
    report(conflicts);
    const drop = found.map((c) => yieldedKey(desired, c.field)).filter((d) => d !== undefined);
    const applied = await api.apply(kind, namespace, withoutKeys(desired, drop), { force: conflicts.some((c) => c.forced) });
    yielded?.add(kind, namespace, name, drop);
    return applied;
  }
}

/**
 * The ConfigMap <job>-perseus to apply: `data` plus the keys of CONFIG_MAP_KEYS the live object (read now,
 * not from the cache, which may lag the last write) already holds, since apply removes the keys this
 * manager stops listing. `existed`: whether it was there.
 */
export async function configMapToApply(api: KubeApi, job: PerseusTrainingJob, data: Readonly<Record<string, string>>): Promise<{ object: KubeObject; existed: boolean }> {
  const namespace = job.metadata.namespace ?? 'default';
  const live = await api.get(CONFIGMAPS, namespace, configMapName(job.metadata.name));
  const liveData = (live?.['data'] ?? {}) as Record<string, string>;
  const kept: Record<string, string> = {};
  for (const key of Object.values(CONFIG_MAP_KEYS)) if (liveData[key] !== undefined) kept[key] = liveData[key];
  return { object: buildConfigMap(job, { ...kept, ...data }), existed: live !== undefined };
}

/** `target` with an RFC 7386 JSON merge patch applied (what the server made of the patches before). */
function jsonMergePatch(target: unknown, patch: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(patch)) return patch;
  const out: Record<string, unknown> = isMap(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = jsonMergePatch(out[key], value);
  }
  return out;
}

/** The complete PerseusRank to apply for a merge-style `patch` of its spec and labels computed against `cached`. */
export function rankToApply(job: PerseusTrainingJob, name: string, cached: PerseusRank | undefined, patch: Readonly<Record<string, unknown>>): KubeObject {
  const spec = jsonMergePatch(cached?.spec ?? {}, patch['spec'] ?? {}) as Record<string, unknown>;
  const labels = ((patch['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {}) as Record<string, string>;
  const node = labels[LABELS.node] ?? cached?.metadata.labels?.[LABELS.node];
  return buildRank(job, name, spec as unknown as RankSpec, node);
}
