// The node agent's Kubernetes wiring: watches the PerseusRanks of this node (label perseus.energy/node,
// which the controller sets once the rank's pod is scheduled), feeds them to NodeAgent.upsertRank/removeRank,
// writes AgentRankStatus back to each rank's status subresource and keeps the agent's API-server lease.
import type { Condition } from '../api/job.ts';
import type { RankStatus } from '../api/rank.ts';
import { LABELS } from '../api/names.ts';
import type { Clock } from '../kube/clock.ts';
import { RANKS, type KubeApi, type KubeObject } from '../kube/client.ts';
import { ContactTrackingApi } from '../kube/contact-tracking.ts';
import { Informer } from '../kube/informer.ts';
import type { NodeAgent } from './agent.ts';
import { agentRankSpecOf } from './rank-spec.ts';
import { rankStatusPatch } from './rank-status.ts';
import type { AgentLogger, AgentRankSpec, AgentRankStatus, RankKey, RankStatusSink } from './types.ts';

/** The label the controller puts on a rank once its pod is bound to a node. */

export interface KubeRankWiringOptions {
  readonly api: KubeApi;
  readonly clock: Clock;
  readonly nodeName: string;
  /** Undefined: every namespace. */
  readonly namespace?: string;
  readonly logger?: AgentLogger;
  /** Relist this often; also bounds the time between API-server contacts on a quiet node (default 60 s). */
  readonly relistMs?: number;
}

/**
 * Feeds a NodeAgent from the PerseusRanks of its node and writes their status. Create it, pass `sink` as the
 * agent's statusSink, then `start(agent)`.
 */
export class KubeRankWiring {
  private readonly api: KubeApi;
  private readonly informer: Informer;
  private agent: NodeAgent | undefined;
  private readonly specs = new Map<string, AgentRankSpec>();
  private readonly conditions = new Map<string, readonly Condition[]>();
  private readonly logger: AgentLogger | undefined;
  /** Errors of the rank watch so far (observability and tests). */
  watchErrors = 0;

  constructor(private readonly o: KubeRankWiringOptions) {
    this.logger = o.logger;
    this.api = new ContactTrackingApi(o.api, () => this.agent?.apiServerContact());
    this.informer = new Informer(this.api, o.clock, {
      kind: RANKS,
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
      labelSelector: `${LABELS.node}=${o.nodeName}`,
      relistMs: o.relistMs ?? 60_000,
      watchTimeoutSeconds: 300,
      maxBackoffMs: 10_000,
      onError: (err) => {
        this.watchErrors++;
        this.logger?.warn('Restarted the rank watch after an error', { error: (err as Error).message });
      },
    });
    this.informer.onChange((key, object) => this.changed(key, object));
  }

  /** The RankStatusSink to give the NodeAgent. */
  readonly sink: RankStatusSink = {
    write: (rank, status) => this.writeStatus(rank, status),
  };

  get hasSynced(): boolean {
    return this.informer.hasSynced;
  }

  /** The ranks the agent currently serves (tests, metrics). */
  ranks(): AgentRankSpec[] {
    return [...this.specs.values()];
  }

  start(agent: NodeAgent): void {
    this.agent = agent;
    this.informer.start();
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  private changed(key: string, object: KubeObject | undefined): void {
    const agent = this.agent;
    if (agent === undefined) return;
    const previous = this.specs.get(key);
    const nodeName = (object?.['spec'] as { nodeName?: string } | undefined)?.nodeName;
    // The label selects the node; a stale label with a different spec.nodeName is not ours.
    const spec = object === undefined || (nodeName !== undefined && nodeName !== this.o.nodeName) ? undefined : agentRankSpecOf(object, previous);
    if (spec === undefined) {
      if (previous !== undefined) {
        this.specs.delete(key);
        this.conditions.delete(key);
        agent.removeRank({ namespace: previous.namespace, name: previous.name });
      }
      return;
    }
    // Status writes (ours included) re-deliver the object: only a changed spec reaches the agent.
    if (previous !== undefined && JSON.stringify(previous) === JSON.stringify(spec)) return;
    this.specs.set(key, spec);
    const status = object?.['status'] as RankStatus | undefined;
    if (previous === undefined && status?.conditions !== undefined) this.conditions.set(key, status.conditions);
    agent.upsertRank(spec).catch((err: unknown) => {
      this.logger?.debug('The GPUs of a rank are not known yet; the agent retries', { namespace: spec.namespace, rank: spec.name, error: (err as Error).message });
    });
  }

  private async writeStatus(rank: RankKey, status: AgentRankStatus): Promise<void> {
    const key = `${rank.namespace}/${rank.name}`;
    const patch = rankStatusPatch(status, this.specs.get(key), this.o.clock.now(), this.conditions.get(key));
    try {
      await this.api.mergePatch(RANKS, rank.namespace, rank.name, { status: patch }, { status: true });
      this.conditions.set(key, patch['conditions'] as Condition[]);
    } catch (err) {
      // A rank deleted meanwhile has no status to write; the watch removes it from the agent.
      if ((err as { code?: number }).code === 404) return;
      throw err;
    }
  }
}
