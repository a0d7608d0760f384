// The node agent's core: ranks on this node (fed by the kube wiring), their GPUs, the training sessions
// bound to them, clock enforcement (Run), profiling sweeps (Profile), status reports and every rule that
// returns GPUs to default clocks. No Kubernetes and no sockets here: see socket-server.ts and the wiring.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Instruction } from '../api/planner-types.ts';
import { THROTTLE_REASONS, type ClockEventReason, type Gpu } from '../nvml/gpu.ts';
import { systemClock, type AgentClock, type TimerHandle } from './clock.ts';
import { GpuClockQueue, type ClockChange } from './clock-queue.ts';
import { IterationStats } from './iteration-stats.ts';
import { PlanIndex } from './plan-index.ts';
import { ProfileSweep } from './profiler.ts';
import { MAX_LINE_BYTES, parseClientMessage, PROTOCOL_VERSION, type ErrorCode, type ErrorReply, type HelloMessage, type ServerReply } from './protocol.ts';
import { silentLogger, type AgentLogger, type AgentRankSpec, type AgentRankStatus, type PodGpuResolver, type RankKey, type RankStatusSink } from './types.ts';

/** Observers for metrics; every method optional. */
export interface AgentObserver {
  clockChanged?(change: ClockChange, owner: RankKey & { pod: string } | undefined): void;
  plannedClock?(gpuUuid: string, mhz: number | undefined): void;
  iterationEnded?(rank: AgentRankSpec, seconds: number, energyJoules: number | undefined): void;
  throttled?(gpu: Gpu, owner: (RankKey & { pod: string }) | undefined, reasons: readonly ClockEventReason[]): void;
  messageRejected?(code: ErrorCode): void;
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

interface RankState {
  spec: AgentRankSpec;
  readonly key: string;
  gpuUuids: readonly string[] | undefined;
  resolution: Promise<void> | undefined;
  resolveError: string | undefined;
  /** Retries the GPU lookup while the kubelet has not allocated the pod's GPUs yet. */
  resolveTimer: TimerHandle | undefined;
  resolveFailures: number;
  readonly sessions: Set<AgentSession>;
  primary: AgentSession | undefined;
  everConnected: boolean;
  graceTimer: TimerHandle | undefined;
  plan: PlanIndex | undefined;
  appliedGeneration: number | undefined;
  sweep: ProfileSweep | undefined;
  readonly stats: IterationStats;
  lastError: string | undefined;
  statusDirty: boolean;
  statusTimer: TimerHandle | undefined;
  statusInFlight: boolean;
  statusUrgent: boolean;
  lastStatusMs: number;
  removed: boolean;
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

function sha256Hex(text: string): Buffer {
  return Buffer.from(createHash('sha256').update(text, 'utf8').digest('hex'), 'utf8');
}

/** The node agent. Create, `start()`, feed ranks with `upsertRank`/`removeRank`, serve sessions, `shutdown()`. */
export class NodeAgent {
  readonly nodeName: string;
  readonly clock: AgentClock;
  readonly logger: AgentLogger;
  private readonly observer: AgentObserver;
  private readonly queues = new Map<string, GpuClockQueue>();
  private readonly gpusByUuid = new Map<string, Gpu>();
  private readonly ranks = new Map<string, RankState>();
  /** GPU UUID → key of the live rank that owns it. */
  private readonly owners = new Map<string, string>();
  private readonly podGpus: PodGpuResolver;
  private readonly statusSink: RankStatusSink;
  readonly connectionGraceMs: number;
  readonly resolveRetryMs: number;
  readonly statusIntervalMs: number;
  readonly apiServerLeaseMs: number;
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  private leaseTimer: TimerHandle | undefined;
  private leaseExpired = false;
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
    this.apiServerLeaseMs = options.apiServerLeaseMs ?? 120_000;
    this.messagesPerSecond = options.messagesPerSecond ?? 2000;
    this.messageBurst = options.messageBurst ?? 4000;
    for (const gpu of options.gpus) {
      this.gpusByUuid.set(gpu.uuid, gpu);
      this.queues.set(
        gpu.uuid,
        new GpuClockQueue(
          gpu,
          {
            onChange: (change) => this.observer.clockChanged?.(change, this.ownerOf(gpu.uuid)),
            onError: (uuid, op, err) => this.logger.warn('NVML command failed', { UUID: uuid, operation: op, error: (err as Error).message }),
          },
          this.logger,
        ),
      );
    }
  }

  /** The GPUs of this node. */
  get gpus(): readonly Gpu[] {
    return [...this.gpusByUuid.values()];
  }

  /** The clock queue of a GPU (for metrics and tests). */
  queue(uuid: string): GpuClockQueue | undefined {
    return this.queues.get(uuid);
  }

  /** Resets every GPU that no live rank owns (locked clocks outlive a crashed agent), and arms the lease. */
  start(): void {
    for (const uuid of this.queues.keys()) if (!this.owners.has(uuid)) this.resetGpu(uuid, true);
    this.apiServerContact();
    this.logger.info('Started node agent', { node: this.nodeName, gpus: this.queues.size });
  }

  /** Resets every GPU and stops timers (SIGTERM). Sessions are closed by the socket server. */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.leaseTimer) this.clock.clearTimer(this.leaseTimer);
    for (const rank of this.ranks.values()) this.clearRankTimers(rank);
    for (const uuid of this.queues.keys()) this.resetGpu(uuid, true);
    this.logger.info('Reset every GPU clock on shutdown', { node: this.nodeName });
  }

  // ---- API server lease (fail open) ----

  /** The wiring calls this on every successful contact with the API server (watch event, list, patch). */
  apiServerContact(): void {
    if (this.stopped) return;
    if (this.leaseTimer) this.clock.clearTimer(this.leaseTimer);
    this.leaseTimer = this.apiServerLeaseMs > 0 ? this.clock.setTimer(() => this.apiServerLost(), this.apiServerLeaseMs) : undefined;
    if (this.leaseExpired) {
      this.leaseExpired = false;
      this.logger.info('Regained the API server; enforcing plans again', { node: this.nodeName });
      for (const rank of this.ranks.values()) this.activate(rank);
    }
  }

  /** The API server is unreachable past the lease: plans may be stale, so every GPU returns to default clocks. */
  apiServerLost(): void {
    if (this.leaseExpired || this.stopped) return;
    this.leaseExpired = true;
    for (const rank of this.ranks.values()) rank.sweep = undefined;
    for (const uuid of this.queues.keys()) this.resetGpu(uuid, false);
    this.logger.warn('Lost the API server past the lease; reset every GPU clock', { node: this.nodeName, leaseMs: this.apiServerLeaseMs });
  }

  get leaseValid(): boolean {
    return !this.leaseExpired;
  }

  // ---- ranks ----

  /** Adds or updates a rank on this node (from its PerseusRank spec). Resolves the pod's GPUs in the background. */
  upsertRank(spec: AgentRankSpec): Promise<void> {
    const key = keyOf(spec.namespace, spec.name);
    let rank = this.ranks.get(key);
    if (rank === undefined) {
      rank = {
        spec,
        key,
        gpuUuids: undefined,
        resolution: undefined,
        resolveError: undefined,
        resolveTimer: undefined,
        resolveFailures: 0,
        sessions: new Set(),
        primary: undefined,
        everConnected: false,
        graceTimer: undefined,
        plan: undefined,
        appliedGeneration: undefined,
        sweep: undefined,
        stats: new IterationStats(),
        lastError: undefined,
        statusDirty: false,
        statusTimer: undefined,
        statusInFlight: false,
        statusUrgent: false,
        lastStatusMs: -Infinity,
        removed: false,
      };
      this.ranks.set(key, rank);
    }
    const previous = rank.spec;
    rank.spec = spec;
    if (previous.podName !== spec.podName || previous.tokenSha256 !== spec.tokenSha256) {
      for (const s of [...rank.sessions]) s.unbind('the rank was reassigned to another pod or token');
      this.release(rank);
      rank.gpuUuids = undefined;
      rank.resolution = undefined;
    }
    if (previous.mode !== spec.mode || previous.profiling !== spec.profiling) rank.sweep = undefined;
    if (spec.mode === 'Idle') {
      this.release(rank);
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
    const rank = this.ranks.get(keyOf(key.namespace, key.name));
    if (rank === undefined) return;
    rank.removed = true;
    for (const s of [...rank.sessions]) s.unbind('the rank was removed');
    this.release(rank);
    this.clearRankTimers(rank);
    this.ranks.delete(rank.key);
    this.logger.info('Removed rank', { namespace: key.namespace, name: key.name });
  }

  /** Current status of a rank (what the sink receives). */
  rankStatus(key: RankKey): AgentRankStatus | undefined {
    const rank = this.ranks.get(keyOf(key.namespace, key.name));
    return rank === undefined ? undefined : this.statusOf(rank);
  }

  /** Keys of the ranks this agent knows. */
  rankKeys(): RankKey[] {
    return [...this.ranks.values()].map((r) => ({ namespace: r.spec.namespace, name: r.spec.name }));
  }

  private async resolve(rank: RankState): Promise<void> {
    const { namespace, podName } = rank.spec;
    try {
      const uuids = await this.podGpus.gpusForPod(namespace, podName);
      if (rank.removed || rank.spec.podName !== podName) return;
      const local = uuids.filter((u) => this.queues.has(u));
      // A pod bound to this node whose GPUs the kubelet has not allocated yet (it admits the pod a moment
      // after the rank reaches the agent): not an answer yet.
      if (local.length === 0) throw new Error(`no GPU of node ${this.nodeName} is allocated to it yet${uuids.length > 0 ? ` (it holds ${uuids.join(', ')})` : ''}`);
      rank.gpuUuids = local;
      rank.resolveError = undefined;
      rank.resolveFailures = 0;
      for (const u of local) {
        const other = this.owners.get(u);
        if (other !== undefined && other !== rank.key) this.logger.warn('GPU moved between ranks', { UUID: u, from: other, to: rank.key });
        this.owners.set(u, rank.key);
      }
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

  /** Brings the GPUs of a rank in line with its spec (idempotent). */
  private activate(rank: RankState): void {
    const uuids = rank.gpuUuids;
    if (uuids === undefined || this.stopped) return;
    for (const u of uuids) this.owners.set(u, rank.key);
    if (this.leaseExpired || rank.spec.mode === 'Idle') return;
    if (rank.spec.mode === 'Run') {
      rank.sweep = undefined;
      const plan = rank.spec.plan;
      if (plan === undefined) {
        rank.plan = undefined;
        for (const u of uuids) this.resetGpu(u, false);
      } else if (rank.plan?.generation !== plan.generation || rank.appliedGeneration !== plan.generation) {
        rank.plan = new PlanIndex(plan);
        rank.stats.resetEnergyBaseline();
        // Status reports iteration times under the applied generation only (PerseusRank status contract).
        rank.stats.seconds.length = 0;
        rank.stats.energyJoules.length = 0;
        for (const u of uuids) this.queues.get(u)!.pinMemoryClockMax();
        if (rank.plan.stageClockMhz !== undefined) this.setClocks(rank, uuids, rank.plan.stageClockMhz);
        rank.appliedGeneration = plan.generation;
        this.logger.info('Applied frequency plan', { namespace: rank.spec.namespace, rank: rank.spec.name, generation: plan.generation, granularity: plan.granularity });
      } else if (rank.plan.stageClockMhz !== undefined) {
        this.setClocks(rank, uuids, rank.plan.stageClockMhz);
      }
    } else if (rank.spec.mode === 'Profile' && rank.sweep === undefined && rank.spec.profiling !== undefined && uuids.length > 0) {
      const q = this.queues.get(uuids[0]!)!;
      for (const u of uuids) this.queues.get(u)!.pinMemoryClockMax();
      try {
        rank.sweep = new ProfileSweep(rank.spec.profiling, rank.spec.stage, q.graphicsClocksMhz, {
          setClockMhz: (mhz) => this.setClocks(rank, uuids, mhz),
          resetClock: () => {
            for (const u of uuids) this.resetGpu(u, false);
          },
          energyMillijoules: () => this.energyMj(uuids),
        });
        rank.sweep.start();
        this.logger.info('Started profiling sweep', { namespace: rank.spec.namespace, rank: rank.spec.name, clocks: rank.sweep.clocksMhz.length });
      } catch (err) {
        rank.lastError = (err as Error).message;
      }
    }
    this.markStatus(rank);
  }

  /** The rank no longer drives its GPUs: reset those no other live rank owns. */
  private release(rank: RankState): void {
    for (const u of rank.gpuUuids ?? []) {
      if (this.owners.get(u) === rank.key) {
        this.owners.delete(u);
        this.resetGpu(u, false);
      }
    }
  }

  private clearRankTimers(rank: RankState): void {
    if (rank.graceTimer) this.clock.clearTimer(rank.graceTimer);
    if (rank.statusTimer) this.clock.clearTimer(rank.statusTimer);
    if (rank.resolveTimer) this.clock.clearTimer(rank.resolveTimer);
    rank.graceTimer = undefined;
    rank.statusTimer = undefined;
    rank.resolveTimer = undefined;
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

  /** The live rank (and its pod) that owns a GPU, for metric labels. */
  ownerOfGpu(uuid: string): (RankKey & { pod: string }) | undefined {
    return this.ownerOf(uuid);
  }

  private ownerOf(uuid: string): (RankKey & { pod: string }) | undefined {
    const key = this.owners.get(uuid);
    const spec = key === undefined ? undefined : this.ranks.get(key)?.spec;
    return spec === undefined ? undefined : { namespace: spec.namespace, name: spec.name, pod: spec.podName };
  }

  private energyMj(uuids: readonly string[]): number {
    let sum = 0;
    for (const u of uuids) sum += this.gpusByUuid.get(u)!.totalEnergyMillijoules();
    return sum;
  }

  private setClocks(rank: RankState, uuids: readonly string[], mhz: number): void {
    for (const u of uuids) {
      const q = this.queues.get(u)!;
      try {
        q.setSmClockMhz(mhz);
        this.observer.plannedClock?.(u, q.snap(mhz));
      } catch (err) {
        rank.lastError = `GPU ${u}: ${(err as Error).message}`;
      }
    }
  }

  private resetGpu(uuid: string, force: boolean): void {
    const q = this.queues.get(uuid);
    if (q === undefined) return;
    try {
      q.reset(force);
      this.observer.plannedClock?.(uuid, undefined);
    } catch (err) {
      this.logger.error('Failed to reset GPU clocks', { UUID: uuid, error: (err as Error).message });
    }
  }

  // ---- sessions (called by AgentSession) ----

  /** Opens a session for one connection; `send` writes a reply (the caller drops it under backpressure). */
  openSession(send: (reply: ServerReply) => void, close: () => void): AgentSession {
    const s = new AgentSession(this, send, close);
    this.sessions.add(s);
    return s;
  }

  /** @internal */
  async bind(session: AgentSession, hello: HelloMessage): Promise<{ ok: true; rank: RankState; gpus: readonly string[] } | { ok: false; error: ErrorReply }> {
    const rank = this.ranks.get(keyOf(hello.namespace, hello.rank));
    const denied = (code: ErrorCode, field: string, expected: string, message: string): { ok: false; error: ErrorReply } => ({ ok: false, error: { type: 'error', code, field, expected, message } });
    // One answer for "no such rank" and "wrong token", so a client cannot probe which ranks exist.
    const unauthorized = denied('Unauthorized', 'token', "the rank's token file contents", `no rank ${hello.namespace}/${hello.rank} with this token on node ${this.nodeName}`);
    if (rank === undefined) return unauthorized;
    const presented = sha256Hex(hello.token);
    const expected = Buffer.from(rank.spec.tokenSha256.toLowerCase(), 'utf8');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return unauthorized;
    if (hello.pod !== rank.spec.podName) return denied('Forbidden', 'pod', `the rank's pod ${rank.spec.podName}`, `rank ${rank.key} belongs to pod ${rank.spec.podName}, not ${hello.pod}`);
    if (rank.gpuUuids === undefined) {
      try {
        await (rank.resolution ??= this.resolve(rank));
      } catch {
        return denied('NotReady', 'pod', 'a pod with GPUs allocated by the kubelet', rank.resolveError ?? 'GPU lookup failed');
      }
    }
    const podGpus = rank.gpuUuids ?? [];
    let gpus = podGpus;
    if (hello.gpus !== undefined) {
      const foreign = hello.gpus.find((g) => !podGpus.includes(g));
      if (foreign !== undefined) return denied('Forbidden', 'gpus', `GPUs allocated to pod ${rank.spec.namespace}/${rank.spec.podName}: ${podGpus.join(', ') || '(none)'}`, `GPU ${foreign} is not allocated to pod ${rank.spec.namespace}/${rank.spec.podName}`);
      gpus = hello.gpus;
    }
    if (rank.removed || this.ranks.get(rank.key) !== rank) return unauthorized;
    rank.sessions.add(session);
    rank.primary ??= session;
    rank.everConnected = true;
    if (rank.graceTimer) {
      this.clock.clearTimer(rank.graceTimer);
      rank.graceTimer = undefined;
    }
    this.activate(rank); // idempotent; re-applies a plan that the grace period reset

    this.markStatus(rank);
    this.logger.info('Bound training connection', { namespace: rank.spec.namespace, rank: rank.spec.name, pod: rank.spec.podName, gpus });
    return { ok: true, rank, gpus };
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
      for (const u of rank.gpuUuids ?? []) if (this.owners.get(u) === rank.key) this.resetGpu(u, false);
      rank.sweep = undefined;
      rank.plan = undefined;
      rank.appliedGeneration = undefined;
      this.logger.warn('Reset GPU clocks: training connection gone past the grace period', { namespace: rank.spec.namespace, rank: rank.spec.name, graceMs: this.connectionGraceMs });
      this.markStatus(rank);
    }, this.connectionGraceMs);
  }

  /** @internal The hot path: a computation begins. Returns an error for a computation the plan lacks. */
  begin(session: AgentSession, rank: RankState, gpus: readonly string[], instruction: Instruction, microbatch: number, chunk: number): ErrorReply | undefined {
    if (this.leaseExpired || this.stopped) return undefined;
    const mode = rank.spec.mode;
    if (mode === 'Run') {
      const plan = rank.plan;
      if (plan === undefined || plan.granularity !== 'Instruction') return undefined;
      const mhz = plan.clockFor(instruction, microbatch, chunk);
      if (mhz === undefined) {
        return { type: 'error', code: 'BadRequest', field: 'microbatch', expected: `a computation of the rank's plan (microbatch < ${plan.microbatches})`, message: `the plan has no ${instruction} of microbatch ${microbatch} chunk ${chunk}` };
      }
      for (let i = 0; i < gpus.length; i++) {
        const u = gpus[i]!;
        const q = this.queues.get(u)!;
        try {
          if (q.setSmClockMhz(mhz)) this.observer.plannedClock?.(u, q.lockedClockMhz);
        } catch (err) {
          rank.lastError = `GPU ${u}: ${(err as Error).message}`;
        }
      }
      return undefined;
    }
    if (mode === 'Profile' && rank.sweep && session === rank.primary) rank.sweep.begin(instruction, this.clock.nowMs());
    return undefined;
  }

  /** @internal */
  end(session: AgentSession, rank: RankState): void {
    if (rank.spec.mode === 'Profile' && rank.sweep && session === rank.primary && !this.leaseExpired) rank.sweep.end(this.clock.nowMs());
  }

  /** @internal */
  stepEnd(session: AgentSession, rank: RankState, iterationSeconds: number): void {
    if (session !== rank.primary || this.stopped) return;
    const uuids = rank.gpuUuids ?? [];
    const reasons = new Set<ClockEventReason>();
    for (const u of uuids) {
      const gpu = this.gpusByUuid.get(u)!;
      try {
        const rs = gpu.clockEventReasons().filter((r) => THROTTLE_REASONS.includes(r));
        if (rs.length > 0) {
          for (const r of rs) reasons.add(r);
          this.observer.throttled?.(gpu, this.ownerOf(u), rs);
        }
      } catch {
        // Reasons are advisory; a GPU that cannot report them still has its iteration counted.
      }
    }
    let energyNow = 0;
    try {
      energyNow = this.energyMj(uuids);
    } catch (err) {
      rank.lastError = (err as Error).message;
    }
    const energyJ = rank.stats.record(iterationSeconds, energyNow, [...reasons]);
    this.observer.iterationEnded?.(rank.spec, iterationSeconds, energyJ);
    if (rank.spec.mode === 'Profile' && rank.sweep && !this.leaseExpired) {
      const finished = rank.sweep.stepEnd(this.clock.nowMs());
      if (finished) {
        this.logger.info('Finished profiling sweep', { namespace: rank.spec.namespace, rank: rank.spec.name, rows: rank.sweep.profile?.measurements.length, stoppedEarly: rank.sweep.profile?.stoppedEarly });
        this.flushStatus(rank);
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
  sessionClosed(session: AgentSession): void {
    this.sessions.delete(session);
  }

  /** @internal The mode a bound session should know about. */
  helloReply(rank: RankState, gpus: readonly string[]): ServerReply {
    const profiling = rank.spec.mode === 'Profile' && rank.sweep !== undefined && !rank.sweep.done;
    return { type: 'hello', ok: true, v: PROTOCOL_VERSION, mode: rank.spec.mode, gpus, synchronize: profiling };
  }

  // ---- status ----

  private statusOf(rank: RankState): AgentRankStatus {
    const progress = rank.sweep?.progress();
    const profile = rank.sweep?.profile;
    return {
      node: this.nodeName,
      gpuUuids: rank.gpuUuids ?? [],
      mode: rank.spec.mode,
      ...(rank.appliedGeneration !== undefined ? { appliedPlanGeneration: rank.appliedGeneration } : {}),
      connected: rank.sessions.size > 0,
      recentIterationSeconds: [...rank.stats.seconds],
      recentIterationEnergyJoules: [...rank.stats.energyJoules],
      throttleReasons: rank.stats.throttleReasons(),
      ...(progress ? { profilingProgress: { clocksDone: progress.clocksDone, clocksPlanned: progress.clocksPlanned } } : {}),
      ...(profile ? { profile } : {}),
      ...((rank.lastError ?? rank.resolveError) !== undefined ? { lastError: (rank.lastError ?? rank.resolveError)! } : {}),
    };
  }

  /** Marks status dirty; writes at most once per statusIntervalMs per rank, never two at once. */
  private markStatus(rank: RankState): void {
    rank.statusDirty = true;
    if (rank.statusTimer || rank.statusInFlight || this.stopped) return;
    const wait = rank.lastStatusMs + this.statusIntervalMs - this.clock.nowMs();
    if (wait <= 0) this.writeStatus(rank);
    else rank.statusTimer = this.clock.setTimer(() => {
      rank.statusTimer = undefined;
      this.writeStatus(rank);
    }, wait);
  }

  /** Writes now (a finished profile should not wait for the interval). */
  private flushStatus(rank: RankState): void {
    if (rank.statusTimer) {
      this.clock.clearTimer(rank.statusTimer);
      rank.statusTimer = undefined;
    }
    rank.statusDirty = true;
    if (rank.statusInFlight) rank.statusUrgent = true;
    else this.writeStatus(rank);
  }

  private writeStatus(rank: RankState): void {
    if (!rank.statusDirty || rank.removed || this.stopped) return;
    rank.statusDirty = false;
    rank.statusInFlight = true;
    rank.lastStatusMs = this.clock.nowMs();
    const status = this.statusOf(rank);
    rank.stats.clearReasons();
    this.statusSink.write({ namespace: rank.spec.namespace, name: rank.spec.name }, status).then(
      () => {
        rank.statusInFlight = false;
        if (rank.statusUrgent) {
          rank.statusUrgent = false;
          this.writeStatus(rank);
        } else if (rank.statusDirty) this.markStatus(rank);
      },
      (err: unknown) => {
        rank.statusInFlight = false;
        rank.statusDirty = true;
        this.logger.warn('Failed to write rank status; will retry', { namespace: rank.spec.namespace, rank: rank.spec.name, error: (err as Error).message });
        this.markStatus(rank);
      },
    );
  }
}

/** One training connection: parses lines, enforces hello-first, rate limits, and routes to the agent. */
export class AgentSession {
  private rank: RankState | undefined;
  private gpus: readonly string[] = [];
  private binding = false;
  private tokens: number;
  private lastRefillMs: number;
  private lastRateErrorMs = -Infinity;
  private failedHellos = 0;
  private closed = false;
  /** Messages dropped by the rate limiter. */
  dropped = 0;

  constructor(
    private readonly agent: NodeAgent,
    private readonly send: (reply: ServerReply) => void,
    private readonly closeConnection: () => void,
  ) {
    this.tokens = agent.messageBurst;
    this.lastRefillMs = agent.clock.nowMs();
  }

  get boundRank(): RankKey | undefined {
    return this.rank ? { namespace: this.rank.spec.namespace, name: this.rank.spec.name } : undefined;
  }

  get boundGpus(): readonly string[] {
    return this.gpus;
  }

  /** Handles one line (without the newline). Never throws. */
  handleLine(line: string): void {
    if (this.closed) return;
    if (!this.admit()) return;
    if (line.length > MAX_LINE_BYTES) {
      this.reject({ type: 'error', code: 'LineTooLong', field: '(line)', expected: `at most ${MAX_LINE_BYTES} bytes per line`, message: `line of ${line.length} bytes dropped` });
      return;
    }
    const parsed = parseClientMessage(line);
    if (!parsed.ok) {
      this.reject(parsed.error);
      return;
    }
    const m = parsed.message;
    try {
      if (m.type === 'hello') {
        this.hello(m);
        return;
      }
      const rank = this.rank;
      if (rank === undefined) {
        this.reject({ type: 'error', code: 'Unauthorized', field: 'type', expected: '"hello" first', message: this.binding ? 'hello is still being processed' : 'send hello before other messages' });
        return;
      }
      if (m.type === 'begin') {
        const err = this.agent.begin(this, rank, this.gpus, m.instruction, m.microbatch, m.chunk);
        if (err) this.reject(err);
      } else if (m.type === 'end') this.agent.end(this, rank);
      else this.agent.stepEnd(this, rank, m.iterationSeconds);
    } catch (err) {
      this.agent.logger.error('Failed to handle a training message', { error: (err as Error).message });
      this.reject({ type: 'error', code: 'Internal', message: 'internal error; the message was dropped' });
    }
  }

  /** Reports a line that exceeded the length cap (the framing layer discarded it). */
  lineTooLong(bytes: number): void {
    if (this.admit()) this.reject({ type: 'error', code: 'LineTooLong', field: '(line)', expected: `at most ${MAX_LINE_BYTES} bytes per line`, message: `line of ${bytes}+ bytes dropped` });
  }

  /** The connection closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.rank) this.agent.unbound(this, this.rank);
    this.rank = undefined;
    this.agent.sessionClosed(this);
  }

  /** @internal The agent withdrew the rank (removed or reassigned): the connection is closed. */
  unbind(reason: string): void {
    if (this.rank === undefined) return;
    this.rank.sessions.delete(this);
    if (this.rank.primary === this) this.rank.primary = undefined;
    this.rank = undefined;
    this.reject({ type: 'error', code: 'Forbidden', message: reason });
    this.closed = true;
    this.agent.sessionClosed(this);
    this.closeConnection();
  }

  private hello(m: HelloMessage): void {
    if (this.rank !== undefined || this.binding) {
      this.reject({ type: 'error', code: 'BadRequest', field: 'type', expected: 'one hello per connection', message: 'this connection is already bound' });
      return;
    }
    this.binding = true;
    this.agent.bind(this, m).then(
      (r) => {
        this.binding = false;
        if (this.closed) {
          if (r.ok) this.agent.unbound(this, r.rank);
          return;
        }
        if (!r.ok) {
          this.reject(r.error);
          if (++this.failedHellos >= 3) this.shut();
          return;
        }
        this.rank = r.rank;
        this.gpus = r.gpus;
        this.send(this.agent.helloReply(r.rank, r.gpus));
      },
      (err: unknown) => {
        this.binding = false;
        this.reject({ type: 'error', code: 'Internal', message: `hello failed: ${(err as Error).message}` });
      },
    );
  }

  private shut(): void {
    this.close();
    this.closeConnection();
  }

  /** Token bucket; over the limit, drop the message and say so at most once per second. */
  private admit(): boolean {
    const now = this.agent.clock.nowMs();
    const elapsed = now - this.lastRefillMs;
    if (elapsed > 0) {
      this.tokens = Math.min(this.agent.messageBurst, this.tokens + (elapsed * this.agent.messagesPerSecond) / 1000);
      this.lastRefillMs = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    if (now - this.lastRateErrorMs >= 1000) {
      this.lastRateErrorMs = now;
      this.reject({ type: 'error', code: 'RateLimited', expected: `at most ${this.agent.messagesPerSecond} messages per second`, message: 'messages are being dropped' });
    }
    return false;
  }

  private reject(error: ErrorReply): void {
    this.agent.noteRejected(error.code);
    this.send(error);
  }
}
