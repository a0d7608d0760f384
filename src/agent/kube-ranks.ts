// The node agent's Kubernetes wiring: watches the PerseusRanks of this node (label perseus.energy/node,
// which the controller sets once the rank's pod is scheduled), feeds them to NodeAgent.upsertRank/removeRank,
// writes AgentRankStatus back to each rank's status subresource and keeps the agent's API-server lease.
import type { RankSpec, RankStatus } from '../api/rank.ts';
import { LABELS, RANK_CONDITIONS } from '../api/names.ts';
import type { Clock } from '../kube/clock.ts';
import { RANKS, type KubeApi, type KubeObject, type ListResult, type ResourceKind, type WatchEvent } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import type { NodeAgent } from './agent.ts';
import type { AgentLogger, AgentRankSpec, AgentRankStatus, ProfilingSweepSpec, RankKey, RankStatusSink } from './types.ts';

/** The label the controller puts on a rank once its pod is bound to a node. */

/** Maps a PerseusRank object to the agent's view; undefined when the object is not a usable rank. */
export function agentRankSpecOf(obj: KubeObject, previous?: AgentRankSpec): AgentRankSpec | undefined {
  const spec = obj['spec'] as RankSpec | undefined;
  if (spec === undefined || typeof spec.podName !== 'string' || typeof spec.jobName !== 'string') return undefined;
  const namespace = obj.metadata.namespace ?? 'default';
  const profile = spec.profile;
  let profiling: ProfilingSweepSpec | undefined;
  if (profile !== undefined) {
    profiling = {
      warmupIterations: profile.warmupIterations,
      iterationsPerClock: profile.iterationsPerClock,
      clockStrideMhz: profile.clockStrideMhz,
      earlyStop: profile.earlyStop ?? true,
      ...(profile.frequenciesMhz === undefined ? {} : { frequenciesMhz: profile.frequenciesMhz }),
      ...(profile.minFrequencyMhz === undefined ? {} : { minFrequencyMhz: profile.minFrequencyMhz }),
      ...(profile.maxFrequencyMhz === undefined ? {} : { maxFrequencyMhz: profile.maxFrequencyMhz }),
    };
    // The agent restarts a sweep when the sweep object changes: keep the previous one when it is equal.
    if (previous?.profiling !== undefined && JSON.stringify(previous.profiling) === JSON.stringify(profiling)) profiling = previous.profiling;
  }
  const plan = spec.plan;
  return {
    namespace,
    name: obj.metadata.name,
    job: spec.jobName,
    pipeline: spec.pipeline,
    stage: spec.stage,
    podName: spec.podName,
    mode: spec.mode,
    tokenSha256: spec.tokenSha256 ?? '',
    ...(profiling === undefined ? {} : { profiling }),
    ...(plan === undefined
      ? {}
      : {
          plan: {
            generation: plan.generation,
            granularity: plan.granularity,
            stagePlan: {
              stage: spec.stage,
              computations: (plan.computations ?? []).map((c) => ({ instruction: c.instruction, microbatch: c.microbatch, chunk: c.chunk, frequencyMhz: c.frequencyMhz })),
              ...(plan.frequencyMhz === undefined ? {} : { frequencyMhz: plan.frequencyMhz }),
            },
          },
        }),
  };
}

type Condition = NonNullable<RankStatus['conditions']>[number];

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The rank status (src/api/rank.ts) for an agent report. Fields the agent no longer reports are nulled so
 * that the merge patch removes them. `previous` keeps lastTransitionTime of unchanged conditions.
 */
export function rankStatusPatch(status: AgentRankStatus, spec: AgentRankSpec | undefined, nowMs: number, previous: readonly Condition[] = []): Record<string, unknown> {
  const now = iso(nowMs);
  const conditions: Condition[] = [];
  const condition = (type: string, s: 'True' | 'False', reason: string, message: string): void => {
    const old = previous.find((c) => c.type === type);
    const lastTransitionTime = old !== undefined && old.status === s ? old.lastTransitionTime : now;
    conditions.push({ type, status: s, reason, message, lastTransitionTime } as Condition);
  };
  if (status.mode === 'Profile') {
    if (status.profile !== undefined) {
      condition(RANK_CONDITIONS.profiled, 'True', 'SweepComplete', `Measured ${status.profile.measurements.length} rows${status.profile.stoppedEarly ? ' (stopped early: energy kept rising)' : ''}`);
    } else if (status.profilingProgress !== undefined) {
      condition(RANK_CONDITIONS.profiled, 'False', 'InProgress', `Swept ${status.profilingProgress.clocksDone} of ${status.profilingProgress.clocksPlanned} clocks`);
    } else {
      condition(RANK_CONDITIONS.profiled, 'False', 'InProgress', status.lastError ?? 'Waiting for the training connection');
    }
  }
  const wanted = spec?.mode === 'Run' ? spec.plan?.generation : undefined;
  if (status.mode === 'Run' && wanted !== undefined && status.appliedPlanGeneration === wanted) {
    condition(RANK_CONDITIONS.planApplied, 'True', 'PlanApplied', `The clocks follow plan generation ${wanted}`);
  } else if (status.mode === 'Run') {
    condition(RANK_CONDITIONS.planApplied, 'False', status.lastError !== undefined ? 'Error' : 'Pending', status.lastError ?? `Waiting for the pod's GPUs and training connection (plan generation ${wanted ?? 'none'})`);
  } else {
    condition(RANK_CONDITIONS.planApplied, 'False', status.mode, `The rank is in ${status.mode} mode`);
  }
  return {
    node: status.node,
    gpuUuids: [...status.gpuUuids],
    appliedPlanGeneration: status.appliedPlanGeneration ?? null,
    iterations: status.appliedPlanGeneration === undefined ? null : status.recentIterationSeconds.length,
    recentIterationSeconds: status.recentIterationSeconds.slice(-256),
    throttleReasons: [...status.throttleReasons],
    stageProfile: status.profile === undefined ? null : status.profile.measurements.map((m) => ({ ...m })),
    blockingPowerWatts: status.profile?.blockingPowerWatts ?? null,
    lastReportTime: now,
    conditions,
  };
}

/** Calls `onContact` after every successful API call and watch event (bookmarks included). */
class ContactTrackingApi implements KubeApi {
  constructor(
    private readonly api: KubeApi,
    private readonly onContact: () => void,
  ) {}

  private async track<T>(p: Promise<T>): Promise<T> {
    const v = await p;
    this.onContact();
    return v;
  }

  list(kind: ResourceKind, namespace: string | undefined, labelSelector?: string): Promise<ListResult> {
    return this.track(this.api.list(kind, namespace, labelSelector));
  }
  get(kind: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined> {
    return this.track(this.api.get(kind, namespace, name));
  }
  create(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    return this.track(this.api.create(kind, namespace, object));
  }
  mergePatch(kind: ResourceKind, namespace: string, name: string, patch: unknown, options?: { status?: boolean }): Promise<KubeObject> {
    return this.track(this.api.mergePatch(kind, namespace, name, patch, options));
  }
  replace(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    return this.track(this.api.replace(kind, namespace, object));
  }
  delete(kind: ResourceKind, namespace: string, name: string, options?: { propagation?: 'Background' | 'Foreground' | 'Orphan' }): Promise<boolean> {
    return this.track(this.api.delete(kind, namespace, name, options));
  }
  watch(
    kind: ResourceKind,
    namespace: string | undefined,
    options: { resourceVersion: string; labelSelector?: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }> {
    return this.track(
      this.api.watch(
        kind,
        namespace,
        options,
        (event) => {
          if (event.type !== 'ERROR') this.onContact();
          onEvent(event);
        },
        done,
      ),
    );
  }
}

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
