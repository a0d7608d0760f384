// Kubernetes events (core/v1) for the objects the controller acts on: `kubectl describe` shows them.
// Writes are best effort and bounded: a few in flight, the others queued up to a limit and dropped past it
// (as client-go's broadcaster drops past its buffer), so a burst (a job's 50 children created at once,
// times every job) neither opens a connection per event nor holds thousands of requests in memory.
import type { Clock } from './clock.ts';
import { EVENTS, type KubeApi } from './client.ts';

export interface EventTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface EventRecorder {
  /** Records an event; reason in CamelCase, message a sentence. Never throws: events are best effort. */
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface EventRecorderLimits {
  /** Event writes in flight at most (default 4). */
  readonly concurrency?: number;
  /** Events waiting at most (default 1000); past it an event is dropped and reported to onError. */
  readonly maxQueued?: number;
}

export class KubeEventRecorder implements EventRecorder {
  private counter = 0;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly api: KubeApi,
    private readonly clock: Clock,
    private readonly component: string,
    private readonly instance: string,
    private readonly onError: (err: unknown) => void,
    private readonly limits: EventRecorderLimits = {},
  ) {}

  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.clock.now()).toISOString();
    const name = `${target.name}.${this.clock.now().toString(16)}${(this.counter++ % 4096).toString(16).padStart(3, '0')}`;
    if (this.inFlight >= (this.limits.concurrency ?? 4)) {
      const maxQueued = this.limits.maxQueued ?? 1000;
      if (this.waiting.length >= maxQueued) {
        this.onError(new Error(`dropped event ${reason} of ${target.kind} ${target.namespace}/${target.name}: ${maxQueued} events already waiting`));
        return;
      }
      // The finishing write hands its slot over (inFlight stays counted).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight++;
    }
    try {
      await this.api.create(EVENTS, target.namespace, {
        metadata: { name, namespace: target.namespace },
        involvedObject: { apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name, ...(target.uid === undefined ? {} : { uid: target.uid }) },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component, host: this.instance },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      // Losing an event must not fail a reconcile; the failure is reported (and counted by the caller).
      this.onError(err);
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.inFlight--;
      else next();
    }
  }
}
