// What a trial checks, read as the administrator straight from kube-apiserver (never through the faulty
// proxy): the job's owned objects by name and UID while it runs (a name seen with two UIDs was lost and
// re-created; two live pods for one rank are duplicates), what is left when it ended, and the events that
// count restarts and re-profilings.
import { configMapName, LABELS, rankName, serviceName } from '../../src/api/names.ts';
import type { ControlPlane } from '../support/envtest.ts';

interface Obj {
  readonly metadata: { readonly name: string; readonly uid: string; readonly deletionTimestamp?: string; readonly labels?: Record<string, string>; readonly ownerReferences?: ReadonlyArray<{ readonly uid: string; readonly controller?: boolean }> };
  readonly status?: { readonly phase?: string };
}

const COLLECTIONS = {
  pods: (ns: string) => `/api/v1/namespaces/${ns}/pods`,
  services: (ns: string) => `/api/v1/namespaces/${ns}/services`,
  configmaps: (ns: string) => `/api/v1/namespaces/${ns}/configmaps`,
  perseusranks: (ns: string) => `/apis/perseus.energy/v1alpha1/namespaces/${ns}/perseusranks`,
} as const;
type Collection = keyof typeof COLLECTIONS;

/** `cp.adminRequest` bounded to 15 s: a request caught in a kube-apiserver restart may otherwise never end. */
export function admin(cp: ControlPlane, method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${method} ${path}: no answer within 15 s`)), 15_000);
  });
  return Promise.race([cp.adminRequest(method, path, body, contentType), timeout]).finally(() => clearTimeout(timer));
}

export async function listOwned(cp: ControlPlane, namespace: string, job: string, collection: Collection): Promise<Obj[] | undefined> {
  try {
    const res = await admin(cp, 'GET', `${COLLECTIONS[collection](namespace)}?labelSelector=${encodeURIComponent(`${LABELS.job}=${job}`)}`);
    if (res.status !== 200) return undefined;
    return (res.body as { items: Obj[] }).items;
  } catch {
    return undefined; // kube-apiserver is down (a fault): the next poll sees it
  }
}

/** Polls the job's owned objects while a trial runs. */
export class ObjectWatch {
  /** `collection/name` → every UID seen (ranks, the Service and the ConfigMap keep one UID for the whole job). */
  private readonly uids = new Map<string, Set<string>>();
  /** Most live (not terminating, not finished) pods seen at once for one role/pipeline/stage, beyond one. */
  duplicatePods = 0;
  private readonly duplicateNotes = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  constructor(
    private readonly cp: ControlPlane,
    private readonly namespace: string,
    private readonly job: string,
  ) {}

  start(everyMs = 500): void {
    const tick = (): void => {
      this.polling = this.poll().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, everyMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  private async poll(): Promise<void> {
    for (const c of ['perseusranks', 'services', 'configmaps'] as const) {
      for (const o of (await listOwned(this.cp, this.namespace, this.job, c)) ?? []) {
        const key = `${c}/${o.metadata.name}`;
        const set = this.uids.get(key) ?? new Set<string>();
        set.add(o.metadata.uid);
        this.uids.set(key, set);
      }
    }
    const pods = await listOwned(this.cp, this.namespace, this.job, 'pods');
    const live = new Map<string, string[]>();
    for (const p of pods ?? []) {
      if (p.metadata.deletionTimestamp !== undefined || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      const l = p.metadata.labels ?? {};
      const slot = `${l[LABELS.role]}/${l[LABELS.pipeline] ?? '-'}/${l[LABELS.stage]}`;
      live.set(slot, [...(live.get(slot) ?? []), p.metadata.name]);
    }
    for (const [slot, names] of live) {
      if (names.length < 2) continue;
      const note = `${slot}: ${names.sort().join(', ')}`;
      if (!this.duplicateNotes.has(note)) {
        this.duplicateNotes.add(note);
        this.duplicatePods += names.length - 1;
      }
    }
  }

  /** Names that were deleted and re-created (more than one UID). */
  recreated(): string[] {
    return [...this.uids].filter(([, s]) => s.size > 1).map(([k, s]) => `${k} (${s.size} UIDs)`);
  }

  get duplicates(): string[] {
    return [...this.duplicateNotes];
  }
}

export interface EndState {
  /** Expected objects missing, or re-created during the run. */
  readonly lost: string[];
  /** Objects that should not exist: unexpected names, a second owner, pods left after the job ended, duplicates seen. */
  readonly duplicated: string[];
}

/**
 * A finished job keeps exactly its ranks, its Service and its ConfigMap, each owned by the job once; its
 * pods have ended. A deleted job keeps nothing. Waits (bounded) for pods and garbage collection to finish.
 */
export async function checkEndState(cp: ControlPlane, o: { namespace: string; job: string; jobUid: string | undefined; stages: number; pipelines: number; deleted: boolean; watch: ObjectWatch }): Promise<EndState> {
  const expected = new Set<string>();
  if (!o.deleted) {
    for (let p = 0; p < o.pipelines; p++) for (let s = 0; s < o.stages; s++) expected.add(`perseusranks/${rankName(o.job, p, s)}`);
    expected.add(`services/${serviceName(o.job)}`);
    expected.add(`configmaps/${configMapName(o.job)}`);
  }
  // A finished job's pods may stay as they ended (Succeeded or Failed, as a Job's do); no pod may still run.
  const allowed = ({ key, obj }: { key: string; obj: Obj }): boolean =>
    expected.has(key) || (!o.deleted && key.startsWith('pods/') && obj.metadata.deletionTimestamp === undefined && (obj.status?.phase === 'Succeeded' || obj.status?.phase === 'Failed'));
  const deadline = Date.now() + 90_000;
  let seen: Array<{ key: string; obj: Obj }> = [];
  for (;;) {
    seen = [];
    for (const c of ['perseusranks', 'services', 'configmaps', 'pods'] as const) {
      for (const obj of (await listOwned(cp, o.namespace, o.job, c)) ?? []) seen.push({ key: `${c}/${obj.metadata.name}`, obj });
    }
    if (seen.every((s) => allowed(s)) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const lost = [...expected].filter((k) => !seen.some((s) => s.key === k)).map((k) => `${k} missing`);
  lost.push(...o.watch.recreated().map((k) => `${k} re-created`));
  const duplicated = seen.filter((s) => !allowed(s)).map(({ key, obj }) => `${key} ${o.deleted ? 'left after the job was deleted' : `left over (${obj.status?.phase ?? 'no phase'}${obj.metadata.deletionTimestamp === undefined ? '' : ', terminating'})`}`);
  for (const { key, obj } of seen) {
    const owners = (obj.metadata.ownerReferences ?? []).filter((r) => r.controller === true);
    if (!o.deleted && (owners.length !== 1 || owners[0]!.uid !== o.jobUid)) duplicated.push(`${key} owned by ${JSON.stringify(owners.map((r) => r.uid))}, not the job ${o.jobUid}`);
  }
  duplicated.push(...o.watch.duplicates.map((d) => `live duplicate pods ${d}`));
  return { lost, duplicated };
}

/** Events of the job (by its UID) with this reason; each Event's count (a recorder may aggregate). */
/** The job's Events of `reason`: how many (an Event's count included) and their messages, oldest first. */
export async function jobEvents(cp: ControlPlane, namespace: string, jobUid: string | undefined, reason: string): Promise<{ readonly count: number; readonly messages: readonly string[] }> {
  if (jobUid === undefined) return { count: 0, messages: [] };
  const res = await admin(cp, 'GET', `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.uid=${jobUid},reason=${reason}`)}`);
  if (res.status !== 200) return { count: 0, messages: [] };
  const items = (res.body as { items: Array<{ count?: number; message?: string }> }).items;
  return { count: items.reduce((n, e) => n + (e.count ?? 1), 0), messages: items.map((e) => e.message ?? '') };
}
