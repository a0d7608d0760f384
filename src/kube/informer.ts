// A list+watch cache of one resource that never stops silently: a failed list or watch is retried with
// backoff, a 410 Gone relists, a watchdog aborts a watch that outlives its server timeout, and a periodic
// relist re-delivers every object (resync). Handlers only learn keys; work happens in the work queue.
// Objects are cached as `transform` shapes them (by default without metadata.managedFields, which is often
// larger than the rest of the object), and optionally indexed by a key such as their owner's name.
import type { Clock, TimerHandle } from './clock.ts';
import type { KubeApi, KubeObject, ResourceKind } from './client.ts';
import { withoutManagedFields } from './trim.ts';

export interface InformerOptions {
  readonly kind: ResourceKind;
  /** Undefined: all namespaces. */
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** Relist (and re-deliver everything) this often. */
  readonly relistMs?: number;
  /** Server-side watch timeout; the watchdog fires 30 s after it. */
  readonly watchTimeoutSeconds?: number;
  readonly maxBackoffMs?: number;
  /** Reports list/watch failures (each is retried). */
  readonly onError?: (err: unknown) => void;
  /** What is cached (and handed to handlers) of each listed or watched object; default: withoutManagedFields. */
  readonly transform?: (object: KubeObject) => KubeObject;
  /** Objects per list request (default 500; the list is paginated with continue tokens). */
  readonly pageSize?: number;
  /** An index key of each object (undefined: not indexed); byIndex() returns the objects with a key. */
  readonly indexBy?: (object: KubeObject) => string | undefined;
}

/** Called for every change and on every relist; `object` is undefined when deleted. */
export type ChangeHandler = (key: string, object: KubeObject | undefined, previous: KubeObject | undefined) => void;

export function objectKey(obj: { metadata: { namespace?: string; name: string } }): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export class Informer {
  private readonly cache = new Map<string, KubeObject>();
  private readonly index = new Map<string, Map<string, KubeObject>>();
  private readonly transform: (object: KubeObject) => KubeObject;
  private readonly handlers: ChangeHandler[] = [];
  private resourceVersion = '';
  private stopped = true;
  private synced = false;
  private current: { abort(): void } | undefined;
  private wake: (() => void) | undefined;
  private relistTimer: TimerHandle | undefined;
  private loop: Promise<void> | undefined;
  /** Counts restarts after errors (observability and tests). */
  restarts = 0;

  constructor(
    private readonly api: KubeApi,
    private readonly clock: Clock,
    private readonly options: InformerOptions,
  ) {
    this.transform = options.transform ?? withoutManagedFields;
  }

  onChange(handler: ChangeHandler): void {
    this.handlers.push(handler);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(namespace: string, name: string): KubeObject | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  list(): KubeObject[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** The cached objects whose indexBy key is `value` (empty without indexBy). */
  byIndex(value: string): KubeObject[] {
    const found = this.index.get(value);
    return found === undefined ? [] : [...found.values()];
  }

  private put(key: string, object: KubeObject): KubeObject | undefined {
    const previous = this.cache.get(key);
    if (previous !== undefined) this.unindex(key, previous);
    this.cache.set(key, object);
    const value = this.options.indexBy?.(object);
    if (value !== undefined) {
      let bucket = this.index.get(value);
      if (bucket === undefined) this.index.set(value, (bucket = new Map()));
      bucket.set(key, object);
    }
    return previous;
  }

  private remove(key: string): KubeObject | undefined {
    const previous = this.cache.get(key);
    if (previous === undefined) return undefined;
    this.cache.delete(key);
    this.unindex(key, previous);
    return previous;
  }

  private unindex(key: string, object: KubeObject): void {
    const value = this.options.indexBy?.(object);
    if (value === undefined) return;
    const bucket = this.index.get(value);
    bucket?.delete(key);
    if (bucket?.size === 0) this.index.delete(value);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.relistTimer?.cancel();
    this.current?.abort();
    this.wake?.();
    await this.loop;
  }

  /** Forces a relist now (also what the periodic timer does). */
  relist(): void {
    this.resourceVersion = '';
    this.current?.abort();
  }

  private emit(key: string, object: KubeObject | undefined, previous: KubeObject | undefined): void {
    for (const h of this.handlers) h(key, object, previous);
  }

  /**
   * Lists in pages of `pageSize` (one snapshot): each page is transformed and cached before the next is
   * asked for, so neither the server nor this process holds the whole list as one response. Objects gone
   * from the snapshot are removed once the last page is in; a failed page (an expired continue token after
   * compaction: 410) fails the list, which starts again from the first page.
   */
  private async doList(): Promise<void> {
    const seen = new Set<string>();
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await this.api.list(this.options.kind, this.options.namespace, this.options.labelSelector, { limit: this.options.pageSize ?? 500, ...(next === undefined ? {} : { continue: next }) });
      resourceVersion ??= page.resourceVersion;
      for (const listed of page.items) {
        const item = this.transform(listed);
        const key = objectKey(item);
        seen.add(key);
        this.emit(key, item, this.put(key, item));
      }
      next = page.continue;
    } while (next !== undefined && !this.stopped);
    if (this.stopped) return;
    for (const key of [...this.cache.keys()]) {
      if (!seen.has(key)) this.emit(key, undefined, this.remove(key));
    }
    this.resourceVersion = resourceVersion ?? '';
    this.synced = true;
    this.relistTimer?.cancel();
    // ±10 % so the informers of one process, started together, do not all relist at the same moment.
    const relistMs = this.options.relistMs ?? 300_000;
    this.relistTimer = this.clock.after(relistMs * (0.9 + 0.2 * Math.random()), () => this.relist());
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.after(ms, () => {
        this.wake = undefined;
        resolve();
      });
      this.wake = () => {
        timer.cancel();
        this.wake = undefined;
        resolve();
      };
    });
  }

  private watchOnce(): Promise<void> {
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? 300;
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      let watchdog: TimerHandle | undefined;
      const finish = (err: unknown): void => {
        if (finished) return;
        finished = true;
        watchdog?.cancel();
        this.current = undefined;
        if (err === null || aborted) resolve();
        else reject(err instanceof Error ? err : new Error(String(err)));
      };
      let aborted = false;
      const onEvent = (event: { type: string; object: KubeObject & { code?: number } }): void => {
        if (event.type === 'ERROR') {
          // 410 Gone: our resourceVersion is too old; anything else: restart the watch from a fresh list.
          this.resourceVersion = '';
          aborted = true;
          this.current?.abort();
          finish(null);
          return;
        }
        if (event.object.metadata?.resourceVersion !== undefined) this.resourceVersion = event.object.metadata.resourceVersion;
        if (event.type === 'BOOKMARK') return;
        const obj = this.transform(event.object);
        const key = objectKey(obj);
        if (event.type === 'DELETED') this.emit(key, undefined, this.remove(key) ?? obj);
        else this.emit(key, obj, this.put(key, obj));
      };
      const options = { resourceVersion: this.resourceVersion, timeoutSeconds, ...(this.options.labelSelector === undefined ? {} : { labelSelector: this.options.labelSelector }) };
      this.api
        .watch(this.options.kind, this.options.namespace, options, onEvent, finish)
        .then((handle) => {
          const abort = (): void => {
            aborted = true;
            handle.abort();
            finish(null);
          };
          this.current = { abort };
          if (finished || this.stopped || this.resourceVersion === '') abort();
          watchdog = this.clock.after(timeoutSeconds * 1000 + 30_000, abort);
        })
        .catch(finish);
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '') await this.doList();
        if (this.stopped) break;
        await this.watchOnce();
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        failures++;
        this.restarts++;
        this.resourceVersion = '';
        this.options.onError?.(err);
        await this.sleep(Math.min(this.options.maxBackoffMs ?? 30_000, 100 * 2 ** Math.min(failures, 12)));
      }
    }
    this.relistTimer?.cancel();
  }
}
