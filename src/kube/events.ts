// Kubernetes events (core/v1) for the objects the controller acts on: `kubectl describe` shows them.
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

export class KubeEventRecorder implements EventRecorder {
  private counter = 0;
  constructor(
    private readonly api: KubeApi,
    private readonly clock: Clock,
    private readonly component: string,
    private readonly instance: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.clock.now()).toISOString();
    const name = `${target.name}.${this.clock.now().toString(16)}${(this.counter++ % 4096).toString(16).padStart(3, '0')}`;
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
    }
  }
}
