// The node agent: ranks on this node (fed by the kube wiring), their GPUs, and the training sessions bound to
// them, composed from the API-server lease, rank authorization, clock enforcement and status writing. No
// Kubernetes and no sockets here: see socket-server.ts and the wiring.
import type { Instruction } from '../api/planner-types.ts';
import type { ClockEventReason, Gpu } from '../nvml/gpu.ts';
import { systemClock, type AgentClock } from './clock.ts';
import type { GpuClockQueue } from './clock-queue.ts';
import { ClockEnforcement, type ClockObserver, type GpuOwner } from './clock-enforcement.ts';
import { ApiServerLease } from './node-lease.ts';
import { PROTOCOL_VERSION, type ErrorCode, type ErrorReply, type HelloMessage, type ServerReply } from './protocol.ts';
import { allowedGpus, checkIdentity, denied, unauthorized } from './rank-authorization.ts';
import { newRankState, rankKeyOf, type RankState } from './rank-state.ts';
import { rankStatusOf, RankStatusWriter } from './status-writer.ts';
import { AgentSession, type BindResult, type SessionHost } from './training-session.ts';
import { silentLogger, type AgentLogger, type AgentRankSpec, type AgentRankStatus, type PodGpuResolver, type RankKey, type RankStatusSink } from './types.ts';

/** Observers for metrics and the simulator; every method optional. */
export interface AgentObserver extends ClockObserver {
  iterationEnded?(rank: AgentRankSpec, seconds: number, energyJoules: number | undefined): void;
  messageRejected?(code: ErrorCode): void;
  /** A training connection bound to `rank` had one line handled (the simulator holds its time until then). */
  lineHandled?(rank: RankKey): void;
}

export interface NodeAgentOptions {
  readonly nodeName: string;
  readonly gpus: readonly Gpu[];
  readonly podGpus: PodGpuResolver;
  readonly statusSink: RankStatusSink;
  readonly clock?: AgentClock;
  readonly logger?: AgentLogger;
  readonly observer?: AgentObserver;
  /** A rank whose training connection has been gone this long gets its GPUs reset (default 30 s). */
  readonly connectionGraceMs?: number;
  /** While a rank's pod has no GPUs allocated yet (or the lookup fails), look again this often (default 5 s). */
  readonly resolveRetryMs?: number;
  /** At most one status write per rank per this interval (default 5 s). */
  readonly statusIntervalMs?: number;
  /** Without contact with the API server for this long, every GPU is reset (default 120 s; 0 disables). */
  readonly apiServerLeaseMs?: number;
  /** Messages per second per connection, and the burst (defaults 2000, 4000). */
  readonly messagesPerSecond?: number;
  readonly messageBurst?: number;
}

/** The node agent. Create, `start()`, feed ranks with `upsertRank`/`removeRank`, serve sessions, `shutdown()`. */
export class NodeAgent implements SessionHost {
  readonly nodeName: string;
  readonly clock: AgentClock;
  readonly logger: AgentLogger;
  private readonly observer: AgentObserver;
  private readonly clocks: ClockEnforcement;
  private readonly lease: ApiServerLease;
  private readonly ranks = new Map<string, RankState>();
  private readonly podGpus: PodGpuResolver;
  private readonly statusSink: RankStatusSink;
  readonly connectionGraceMs: number;
  readonly resolveRetryMs: number;
  readonly statusIntervalMs: number;
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  private stopped = false;
  readonly sessions = new Set<AgentSession>();

  constructor(options: NodeAgentOptions) {
    this.nodeName = options.nodeName;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.observer = options.observer ?? {};
    this.podGpus = options.podGpus;
    this.statusSink = options.statusSink;
    this.connectionGraceMs = options.connectionGraceMs ?? 30_000;
    this.resolveRetryMs = options.resolveRetryMs ?? 5_000;
    this.statusIntervalMs = options.statusIntervalMs ?? 5_000;
    this.messagesPerSecond = options.messagesPerSecond ?? 2000;
    this.messageBurst = options.messageBurst ?? 4000;
    this.clocks = new ClockEnforcement(options.gpus, this.observer, this.logger, (key) => this.ranks.get(key)?.spec);
    this.lease = new ApiServerLease(this.clock, options.apiServerLeaseMs ?? 120_000, {
      lost: () => {
        for (const rank of this.ranks.values()) rank.sweep = undefined;
        this.clocks.resetAll(false);
        this.logger.warn('Lost the API server past the lease; reset every GPU clock', { node: this.nodeName, leaseMs: this.lease.leaseMs });
      },
      regained: () => {
        this.logger.info('Regained the API server; enforcing plans again', { node: this.nodeName });
        for (const rank of this.ranks.values()) this.activate(rank);
      },
    });
  }

  /** The GPUs of this node. */
  get gpus(): readonly Gpu[] {
    return this.clocks.gpus;
  }

  /** The clock queue of a GPU (for metrics and tests). */
  queue(uuid: string): GpuClockQueue | undefined {
    return this.clocks.queue(uuid);
  }

  get apiServerLeaseMs(): number {
    return this.lease.leaseMs;
  }

  /** Resets every GPU that no live rank owns (locked clocks outlive a crashed agent), and arms the lease. */
  start(): void {
    this.clocks.resetAll(true, true);
    this.apiServerContact();
    this.logger.info('Started node agent', { node: this.nodeName, gpus: this.clocks.gpuCount });
  }

  /** Resets every GPU and stops timers (SIGTERM). Sessions are closed by the socket server. */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.lease.stop();
    for (const rank of this.ranks.values()) this.clearRankTimers(rank);
    this.clocks.resetAll(true);
    this.logger.info('Reset every GPU clock on shutdown', { node: this.nodeName });
  }

  // ---- API server lease (fail open) ----

  /** The wiring calls this on every successful contact with the API server (watch event, list, patch). */
  apiServerContact(): void {
    if (!this.stopped) this.lease.contact();
  }

  /** The API server is unreachable past the lease: plans may be stale, so every GPU returns to default clocks. */
  apiServerLost(): void {
    if (!this.stopped) this.lease.expire();
  }

  get leaseValid(): boolean {
    return this.lease.valid;
  }

  // ---- ranks ----

  /** Adds or updates a rank on this node (from its PerseusRank spec). Resolves the pod's GPUs in the background. */
  upsertRank(spec: AgentRankSpec): Promise<void> {
    const key = rankKeyOf(spec.namespace, spec.name);
    let rank = this.ranks.get(key);
    if (rank === undefined) {
      rank = newRankState(spec, (r) => this.statusWriterFor(r));
      this.ranks.set(key, rank);
    }
    const previous = rank.spec;
    rank.spec = spec;
    if (previous.podName !== spec.podName || previous.tokenSha256 !== spec.tokenSha256 || previous.attempt !== spec.attempt) {
      for (const s of [...rank.sessions]) s.unbind('the rank was reassigned to another pod, token or restart attempt');
      this.clocks.release(rank);
      rank.gpuUuids = undefined;
      rank.resolution = undefined;
      if (previous.attempt !== spec.attempt) {
        rank.stats.clear(); // a gang restart: the old pods' iterations and sweep say nothing of the new ones
        rank.sweep = undefined;
      }
    }
    if (previous.mode !== spec.mode || previous.profiling !== spec.profiling) rank.sweep = undefined;
    if (spec.mode === 'Idle') {
      this.clocks.release(rank);
      rank.plan = undefined;
      rank.sweep = undefined;
      rank.appliedGeneration = undefined;
      this.markStatus(rank);
      return Promise.resolve();
    }
    if (rank.gpuUuids === undefined) {
      rank.resolution ??= this.resolve(rank);
      return rank.resolution;
    }
    this.activate(rank);
    return Promise.resolve();
  }

  /** Removes a rank (its PerseusRank is gone or moved off this node): its GPUs return to default clocks. */
  removeRank(key: RankKey): void {
    const rank = this.ranks.get(rankKeyOf(key.namespace, key.name));
    if (rank === undefined) return;
    rank.removed = true;
    for (const s of [...rank.sessions]) s.unbind('the rank was removed');
    this.clocks.release(rank);
    this.clearRankTimers(rank);
    this.ranks.delete(rank.key);
    this.logger.info('Removed rank', { namespace: key.namespace, name: key.name });
  }

  /** Current status of a rank (what the sink receives). */
  rankStatus(key: RankKey): AgentRankStatus | undefined {
    const rank = this.ranks.get(rankKeyOf(key.namespace, key.name));
    return rank === undefined ? undefined : rankStatusOf(rank, this.nodeName);
  }

  /** Keys of the ranks this agent knows. */
  rankKeys(): RankKey[] {
    return [...this.ranks.values()].map((r) => ({ namespace: r.spec.namespace, name: r.spec.name }));
  }

  /** The live rank (and its pod) that owns a GPU, for metric labels. */
  ownerOfGpu(uuid: string): GpuOwner | undefined {
    return this.clocks.ownerOf(uuid);
  }

  // ---- GPU resolution ----

  private async resolve(rank: RankState): Promise<void> {
    const { namespace, podName } = rank.spec;
    try {
      const uuids = await this.podGpus.gpusForPod(namespace, podName);
      if (rank.removed || rank.spec.podName !== podName) return;
      const local = uuids.filter((u) => this.clocks.has(u));
      // A pod bound to this node whose GPUs the kubelet has not allocated yet (it admits the pod a moment
      // after the rank reaches the agent): not an answer yet.
      if (local.length === 0) throw new Error(`no GPU of node ${this.nodeName} is allocated to it yet${uuids.length > 0 ? ` (it holds ${uuids.join(', ')})` : ''}`);
      rank.gpuUuids = local;
      rank.resolveError = undefined;
      rank.resolveFailures = 0;
      this.clocks.claim(rank, local);
      this.logger.info('Resolved rank GPUs', { namespace, rank: rank.spec.name, pod: podName, gpus: local });
      this.activate(rank);
    } catch (err) {
      rank.resolveError = `cannot look up the GPUs of pod ${namespace}/${podName}: ${(err as Error).message}`;
      rank.resolution = undefined;
      rank.resolveFailures++;
      // The first failure is a warning; the retries that follow it are not worth one each.
      const log = rank.resolveFailures === 1 ? this.logger.warn : this.logger.debug;
      log.call(this.logger, 'Failed to resolve rank GPUs; retrying', { namespace, rank: rank.spec.name, pod: podName, error: (err as Error).message, retryInMs: this.resolveRetryMs, failures: rank.resolveFailures });
      this.scheduleResolveRetry(rank);
      this.markStatus(rank);
      throw err;
    }
  }

  /** Looks up a rank's GPUs again later, unless it is resolved, removed, Idle, or already scheduled. */
  private scheduleResolveRetry(rank: RankState): void {
    if (rank.resolveTimer !== undefined || this.stopped || this.resolveRetryMs <= 0) return;
    rank.resolveTimer = this.clock.setTimer(() => {
      rank.resolveTimer = undefined;
      if (rank.removed || this.stopped || rank.gpuUuids !== undefined || rank.spec.mode === 'Idle') return;
      (rank.resolution ??= this.resolve(rank)).catch(() => undefined);
    }, this.resolveRetryMs);
  }

  /** Brings the GPUs of a rank in line with its spec (idempotent). */
  private activate(rank: RankState): void {
    const uuids = rank.gpuUuids;
    if (uuids === undefined || this.stopped) return;
    this.clocks.own(rank, uuids);
    if (!this.lease.valid || rank.spec.mode === 'Idle') return;
    this.clocks.enforce(rank, uuids);
    this.markStatus(rank);
  }

  private clearRankTimers(rank: RankState): void {
    if (rank.graceTimer) this.clock.clearTimer(rank.graceTimer);
    if (rank.resolveTimer) this.clock.clearTimer(rank.resolveTimer);
    rank.graceTimer = undefined;
    rank.resolveTimer = undefined;
    rank.status.close();
  }

  // ---- sessions (called by AgentSession) ----

  /** Opens a session for one connection; `send` writes a reply (the caller drops it under backpressure). */
  openSession(send: (reply: ServerReply) => void, close: () => void): AgentSession {
    const s = new AgentSession(this, send, close);
    this.sessions.add(s);
    return s;
  }

  /** @internal */
  async bind(session: AgentSession, hello: HelloMessage): Promise<BindResult> {
    const rank = this.ranks.get(rankKeyOf(hello.namespace, hello.rank));
    const identity = checkIdentity(rank, hello, this.nodeName);
    if (identity !== undefined || rank === undefined) return identity ?? unauthorized(hello, this.nodeName);
    if (rank.gpuUuids === undefined) {
      try {
        await (rank.resolution ??= this.resolve(rank));
      } catch {
        return denied('NotReady', 'pod', 'a pod with GPUs allocated by the kubelet', rank.resolveError ?? 'GPU lookup failed');
      }
    }
    const allowed = allowedGpus(rank, hello);
    if (!allowed.ok) return allowed;
    if (rank.removed || this.ranks.get(rank.key) !== rank) return unauthorized(hello, this.nodeName);
    rank.sessions.add(session);
    rank.primary ??= session;
    if (rank.graceTimer) {
      this.clock.clearTimer(rank.graceTimer);
      rank.graceTimer = undefined;
    }
    this.activate(rank); // idempotent; re-applies a plan that the grace period reset

    this.markStatus(rank);
    this.logger.info('Bound training connection', { namespace: rank.spec.namespace, rank: rank.spec.name, pod: rank.spec.podName, gpus: allowed.gpus });
    return { ok: true, rank, gpus: allowed.gpus };
  }

  /** @internal */
  unbound(session: AgentSession, rank: RankState): void {
    rank.sessions.delete(session);
    if (rank.primary === session) rank.primary = rank.sessions.values().next().value;
    if (rank.sessions.size > 0 || rank.removed || this.stopped) return;
    this.markStatus(rank);
    // Stage-granularity plans need no client: they stay until the rank goes Idle or away.
    if (rank.spec.mode === 'Run' && rank.plan?.granularity === 'Stage') return;
    if (rank.graceTimer) this.clock.clearTimer(rank.graceTimer);
    rank.graceTimer = this.clock.setTimer(() => {
      rank.graceTimer = undefined;
      if (rank.sessions.size > 0) return;
      this.clocks.resetOwned(rank);
      rank.sweep = undefined;
      rank.plan = undefined;
      rank.appliedGeneration = undefined;
      this.logger.warn('Reset GPU clocks: training connection gone past the grace period', { namespace: rank.spec.namespace, rank: rank.spec.name, graceMs: this.connectionGraceMs });
      this.markStatus(rank);
    }, this.connectionGraceMs);
  }

  /** @internal The hot path: a computation begins. Returns an error for a computation the plan lacks. */
  begin(session: AgentSession, rank: RankState, gpus: readonly string[], instruction: Instruction, microbatch: number, chunk: number): ErrorReply | undefined {
    if (!this.lease.valid || this.stopped) return undefined;
    const mode = rank.spec.mode;
    if (mode === 'Run') return this.clocks.beginComputation(rank, gpus, instruction, microbatch, chunk);
    if (mode === 'Profile' && rank.sweep && session === rank.primary) rank.sweep.begin(instruction, this.clock.nowMs());
    return undefined;
  }

  /** @internal */
  end(session: AgentSession, rank: RankState): void {
    if (rank.spec.mode === 'Profile' && rank.sweep && session === rank.primary && this.lease.valid) rank.sweep.end(this.clock.nowMs());
  }

  /** @internal */
  stepEnd(session: AgentSession, rank: RankState, iterationSeconds: number): void {
    if (session !== rank.primary || this.stopped) return;
    const uuids = rank.gpuUuids ?? [];
    const reasons: ClockEventReason[] = this.clocks.throttleReasons(uuids);
    let energyNow = 0;
    try {
      energyNow = this.clocks.energyMj(uuids);
    } catch (err) {
      rank.lastError = (err as Error).message;
    }
    const energyJ = rank.stats.record(iterationSeconds, energyNow, reasons);
    this.observer.iterationEnded?.(rank.spec, iterationSeconds, energyJ);
    if (rank.spec.mode === 'Profile' && rank.sweep && this.lease.valid) {
      const finished = rank.sweep.stepEnd(this.clock.nowMs());
      if (finished) {
        this.logger.info('Finished profiling sweep', { namespace: rank.spec.namespace, rank: rank.spec.name, rows: rank.sweep.profile?.measurements.length, stoppedEarly: rank.sweep.profile?.stoppedEarly });
        rank.status.flush();
        return;
      }
    }
    this.markStatus(rank);
  }

  /** @internal */
  noteRejected(code: ErrorCode): void {
    this.observer.messageRejected?.(code);
  }

  /** @internal */
  lineHandled(rank: RankState): void {
    this.observer.lineHandled?.(rank.spec);
  }

  /** @internal */
  sessionClosed(session: AgentSession): void {
    this.sessions.delete(session);
  }

  /** @internal The mode a bound session should know about. */
  helloReply(rank: RankState, gpus: readonly string[]): ServerReply {
    const profiling = rank.spec.mode === 'Profile' && rank.sweep !== undefined && !rank.sweep.done;
    return { type: 'hello', ok: true, v: PROTOCOL_VERSION, mode: rank.spec.mode, gpus, synchronize: profiling };
  }

  // ---- status ----

  private statusWriterFor(rank: RankState): RankStatusWriter {
    return new RankStatusWriter({
      rank: { namespace: rank.spec.namespace, name: rank.spec.name },
      clock: this.clock,
      logger: this.logger,
      sink: this.statusSink,
      intervalMs: this.statusIntervalMs,
      snapshot: () => {
        const status = rankStatusOf(rank, this.nodeName);
        rank.stats.clearReasons();
        return status;
      },
    });
  }

  private markStatus(rank: RankState): void {
    if (!this.stopped) rank.status.mark();
  }
}
