// The object store: one global resourceVersion counter, objects per storage key, a bounded history of
// change events (what watches replay and what consistent list pages are rebuilt from), and live watchers.
import { gone } from './errors.ts';
import type { KubeObject } from './json.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change. `object` carries the new resourceVersion; `prev` is the object before. */
export interface ChangeEvent {
  type: EventType;
  rv: number;
  storage: string;
  key: string;
  object: KubeObject;
  prev?: KubeObject;
}

/** A live watch registered with the store. */
export interface StoreWatcher {
  storage: string;
  /** Namespace the watch is scoped to, or undefined for all. */
  namespace: string | undefined;
  deliver(event: ChangeEvent): void;
}

/** The store key of an object: `namespace/name` or `name`. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? name : `${namespace}/${name}`;
}

export class Store {
  /** The last resourceVersion handed out. */
  rv = 0;
  /** Events with rv <= compactedRv are no longer in history. */
  compactedRv = 0;
  private readonly tables = new Map<string, Map<string, KubeObject>>();
  private readonly sortedKeys = new Map<string, string[]>();
  private readonly history: ChangeEvent[] = [];
  private historyStart = 0;
  private readonly watchers = new Map<string, Set<StoreWatcher>>();
  /** uid → where the object lives (owner lookups for garbage collection). */
  readonly byUid = new Map<string, { storage: string; key: string }>();
  /** owner uid → dependents. */
  readonly dependents = new Map<string, Set<string>>();

  constructor(public historySize: number) {}

  private table(storage: string): Map<string, KubeObject> {
    let t = this.tables.get(storage);
    if (t === undefined) {
      t = new Map();
      this.tables.set(storage, t);
    }
    return t;
  }

  get(storage: string, key: string): KubeObject | undefined {
    return this.tables.get(storage)?.get(key);
  }

  /** Number of objects stored (all types). */
  size(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.size;
    return n;
  }

  storages(): string[] {
    return [...this.tables.keys()];
  }

  /** Keys of a storage in etcd order (sorted), optionally within a namespace. */
  keys(storage: string, namespace?: string): string[] {
    let sorted = this.sortedKeys.get(storage);
    if (sorted === undefined) {
      sorted = [...(this.tables.get(storage)?.keys() ?? [])].sort();
      this.sortedKeys.set(storage, sorted);
    }
    if (namespace === undefined) return sorted;
    const prefix = `${namespace}/`;
    return sorted.filter((k) => k.startsWith(prefix));
  }

  /** Allocates the next resourceVersion. */
  nextRv(): number {
    return ++this.rv;
  }

  /** Commits a change made with resourceVersion `rv` (from nextRv) and notifies watchers. */
  commit(type: EventType, storage: string, key: string, object: KubeObject, prev: KubeObject | undefined, rv: number): void {
    const table = this.table(storage);
    if (type === 'DELETED') {
      table.delete(key);
      this.sortedKeys.delete(storage);
      if (prev?.metadata.uid !== undefined) this.byUid.delete(prev.metadata.uid);
    } else {
      if (!table.has(key)) this.sortedKeys.delete(storage);
      table.set(key, object);
      if (object.metadata.uid !== undefined) this.byUid.set(object.metadata.uid, { storage, key });
    }
    this.indexOwners(storage, key, type === 'DELETED' ? undefined : object, prev);
    const event: ChangeEvent = { type, rv, storage, key, object };
    if (prev !== undefined) event.prev = prev;
    this.history.push(event);
    if (this.history.length - this.historyStart > this.historySize) this.compactTo(this.history.length - this.historySize);
    for (const w of this.watchers.get(storage) ?? []) {
      if (w.namespace !== undefined && object.metadata.namespace !== w.namespace) continue;
      w.deliver(event);
    }
  }

  private indexOwners(storage: string, key: string, next: KubeObject | undefined, prev: KubeObject | undefined): void {
    const id = `${storage}\u0000${key}`;
    for (const ref of prev?.metadata.ownerReferences ?? []) this.dependents.get(ref.uid)?.delete(id);
    for (const ref of next?.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (set === undefined) {
        set = new Set();
        this.dependents.set(ref.uid, set);
      }
      set.add(id);
    }
  }

  /** Drops history before index `start` (absolute index into the history array). */
  private compactTo(start: number): void {
    const last = this.history[start - 1];
    if (last !== undefined) this.compactedRv = last.rv;
    this.historyStart = start;
    if (this.historyStart > 4096 && this.historyStart * 2 > this.history.length) {
      this.history.splice(0, this.historyStart);
      this.historyStart = 0;
    }
  }

  /** Drops all history up to the current resourceVersion (a test hook: forces 410 on older watches). */
  compact(): void {
    this.compactTo(this.history.length);
    this.compactedRv = this.rv;
  }

  /** The 410 error for a resourceVersion older than the kept history. */
  tooOld(rv: number): ReturnType<typeof gone> {
    return gone(`too old resource version: ${rv} (${this.compactedRv + 1})`);
  }

  /** Events of `storage` after `rv`, oldest first; throws 410 if history no longer reaches back to rv. */
  eventsSince(storage: string | undefined, rv: number): ChangeEvent[] {
    if (rv < this.compactedRv) throw this.tooOld(rv);
    const out: ChangeEvent[] = [];
    // Binary search the first event with rv > requested.
    let lo = this.historyStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.history[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.history.length; i++) {
      const e = this.history[i];
      if (e !== undefined && (storage === undefined || e.storage === storage)) out.push(e);
    }
    return out;
  }

  /** The objects of a storage as they were at `rv` (undoing later events); 410 if compacted. */
  snapshotAt(storage: string, rv: number): Map<string, KubeObject> {
    const snapshot = new Map(this.tables.get(storage) ?? []);
    if (rv >= this.rv) return snapshot;
    const later = this.eventsSince(storage, rv);
    for (let i = later.length - 1; i >= 0; i--) {
      const e = later[i];
      if (e === undefined) continue;
      if (e.type === 'ADDED') snapshot.delete(e.key);
      else if (e.prev !== undefined) snapshot.set(e.key, e.prev);
    }
    return snapshot;
  }

  addWatcher(w: StoreWatcher): void {
    let set = this.watchers.get(w.storage);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(w.storage, set);
    }
    set.add(w);
  }

  removeWatcher(w: StoreWatcher): void {
    this.watchers.get(w.storage)?.delete(w);
  }

  watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }
}
