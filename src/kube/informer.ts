// A list+watch cache of one resource that never stops silently: a failed list or watch is retried with
// backoff, a 410 Gone relists, a watchdog aborts a watch that outlives its server timeout, and a periodic
// relist re-delivers every object (resync). Handlers only learn keys; work happens in the work queue.
import type { Clock, TimerHandle } from './clock.ts';
import type { KubeApi, KubeObject, ResourceKind } from './client.ts';

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
}

/** Called for every change and on every relist; `object` is undefined when deleted. */
export type ChangeHandler = (key: string, object: KubeObject | undefined, previous: KubeObject | undefined) => void;

export function objectKey(obj: { metadata: { namespace?: string; name: string } }): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export class Informer {
  private readonly cache = new Map<string, KubeObject>();
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
  ) {}

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

  private async doList(): Promise<void> {
    const { items, resourceVersion } = await this.api.list(this.options.kind, this.options.namespace, this.options.labelSelector);
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, item);
      this.emit(key, item, previous);
    }
    for (const [key, previous] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit(key, undefined, previous);
      }
    }
    this.resourceVersion = resourceVersion;
    this.synced = true;
    this.relistTimer?.cancel();
    this.relistTimer = this.clock.after(this.options.relistMs ?? 300_000, () => this.relist());
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
        const obj = event.object;
        if (obj.metadata?.resourceVersion !== undefined) this.resourceVersion = obj.metadata.resourceVersion;
        if (event.type === 'BOOKMARK') return;
        const key = objectKey(obj);
        const previous = this.cache.get(key);
        if (event.type === 'DELETED') {
          this.cache.delete(key);
          this.emit(key, undefined, previous ?? obj);
        } else {
          this.cache.set(key, obj);
          this.emit(key, obj, previous);
        }
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
