// Node readiness for gang restarts: the controller watches Nodes (get/list/watch, cluster-wide) so that a
// pod whose node has been NotReady past --node-lost-grace counts as lost. Only a change of a node's Ready
// status is passed on; the grace itself is timed by decide()'s requeue.
import type { Clock } from '../kube/clock.ts';
import { NODES, type KubeApi, type KubeObject } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import type { NodeInfo } from './decision.ts';

interface NodeCondition {
  readonly type?: string;
  readonly status?: string;
  readonly lastTransitionTime?: string;
}

/** The readiness of a Node object: Ready=True is ready; False, Unknown or no condition is not. */
export function nodeInfo(node: KubeObject): NodeInfo {
  const conditions = ((node['status'] as { conditions?: NodeCondition[] } | undefined)?.conditions ?? []).filter((c) => c.type === 'Ready');
  const ready = conditions[0];
  const since = ready?.lastTransitionTime === undefined ? NaN : Date.parse(ready.lastTransitionTime);
  return { ready: ready?.status === 'True', sinceMs: Number.isFinite(since) ? since : undefined };
}

/** What the cache keeps of a Node: its name and Ready condition (a Node's images and addresses can run to tens of KB). */
function readinessOnly(node: KubeObject): KubeObject {
  const { name, uid, resourceVersion } = node.metadata;
  const conditions = ((node['status'] as { conditions?: NodeCondition[] } | undefined)?.conditions ?? []).filter((c) => c.type === 'Ready');
  const metadata = { name, ...(uid === undefined ? {} : { uid }), ...(resourceVersion === undefined ? {} : { resourceVersion }) };
  return { apiVersion: 'v1', kind: 'Node', metadata, status: { conditions } };
}

export interface NodeWatchOptions {
  readonly api: KubeApi;
  readonly clock: Clock;
  readonly relistMs: number;
  readonly watchTimeoutSeconds: number;
  readonly onError: (err: unknown) => void;
  /** A node's Ready status changed (or it appeared or went away). */
  readonly onReadinessChange: (nodeName: string) => void;
}

/** Nodes by name with their readiness, from an informer. */
export class NodeWatch {
  private readonly informer: Informer;
  private readonly infos = new Map<string, NodeInfo>();

  constructor(o: NodeWatchOptions) {
    this.informer = new Informer(o.api, o.clock, { kind: NODES, relistMs: o.relistMs, watchTimeoutSeconds: o.watchTimeoutSeconds, onError: o.onError, transform: readinessOnly });
    this.informer.onChange((_key, obj, previous) => {
      const name = (obj ?? previous)?.metadata.name;
      if (name === undefined) return;
      const before = this.infos.get(name);
      const after = obj === undefined ? undefined : nodeInfo(obj);
      if (after === undefined) this.infos.delete(name);
      else this.infos.set(name, after);
      if (before?.ready !== after?.ready) o.onReadinessChange(name);
    });
  }

  /** Nodes by name (a live view; decide() reads it within one pass). */
  get nodes(): ReadonlyMap<string, NodeInfo> {
    return this.infos;
  }

  get hasSynced(): boolean {
    return this.informer.hasSynced;
  }

  start(): void {
    this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}
