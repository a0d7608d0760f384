// Clock enforcement: one command queue per GPU, which live rank owns each GPU, and the rules that put a
// rank's GPUs at its plan's clocks (Run), drive its profiling sweep (Profile) or return them to default.
import type { Instruction } from '../api/planner-types.ts';
import { THROTTLE_REASONS, type ClockEventReason, type Gpu } from '../nvml/gpu.ts';
import { GpuClockQueue, type ClockChange } from './clock-queue.ts';
import { PlanIndex } from './plan-index.ts';
import { ProfileSweep } from './profiler.ts';
import { TargetedSweep } from './targeted-sweep.ts';
import type { ErrorReply } from './protocol.ts';
import type { RankState } from './rank-state.ts';
import type { AgentLogger, AgentRankSpec, RankKey } from './types.ts';

/** A GPU's owner as metric labels name it. */
export type GpuOwner = RankKey & { pod: string };

/** Observers of clock enforcement (for metrics); every method optional. */
export interface ClockObserver {
  clockChanged?(change: ClockChange, owner: GpuOwner | undefined): void;
  plannedClock?(gpuUuid: string, mhz: number | undefined): void;
  throttled?(gpu: Gpu, owner: GpuOwner | undefined, reasons: readonly ClockEventReason[]): void;
}

export class ClockEnforcement {
  private readonly queues = new Map<string, GpuClockQueue>();
  private readonly gpusByUuid = new Map<string, Gpu>();
  /** GPU UUID → key of the live rank that owns it. */
  private readonly owners = new Map<string, string>();

  constructor(
    gpus: readonly Gpu[],
    private readonly observer: ClockObserver,
    private readonly logger: AgentLogger,
    /** The spec of a live rank by key (owner labels). */
    private readonly specOf: (rankKey: string) => AgentRankSpec | undefined,
  ) {
    for (const gpu of gpus) {
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

  get gpus(): readonly Gpu[] {
    return [...this.gpusByUuid.values()];
  }

  get gpuCount(): number {
    return this.queues.size;
  }

  queue(uuid: string): GpuClockQueue | undefined {
    return this.queues.get(uuid);
  }

  /** Whether the GPU is one of this node's. */
  has(uuid: string): boolean {
    return this.queues.has(uuid);
  }

  /** The live rank (and its pod) that owns a GPU. */
  ownerOf(uuid: string): GpuOwner | undefined {
    const key = this.owners.get(uuid);
    const spec = key === undefined ? undefined : this.specOf(key);
    return spec === undefined ? undefined : { namespace: spec.namespace, name: spec.name, pod: spec.podName };
  }

  /** The key of the rank that owns a GPU. */
  ownerKey(uuid: string): string | undefined {
    return this.owners.get(uuid);
  }

  /** The GPUs resolved for a rank become its own (a GPU moved between ranks is worth a warning). */
  claim(rank: RankState, uuids: readonly string[]): void {
    for (const u of uuids) {
      const other = this.owners.get(u);
      if (other !== undefined && other !== rank.key) this.logger.warn('GPU moved between ranks', { UUID: u, from: other, to: rank.key });
      this.owners.set(u, rank.key);
    }
  }

  /** The rank no longer drives its GPUs: reset those no other live rank owns. */
  release(rank: RankState): void {
    for (const u of rank.gpuUuids ?? []) {
      if (this.owners.get(u) === rank.key) {
        this.owners.delete(u);
        this.resetGpu(u, false);
      }
    }
  }

  /** Resets the rank's GPUs that it still owns (it keeps them). */
  resetOwned(rank: RankState): void {
    for (const u of rank.gpuUuids ?? []) if (this.owners.get(u) === rank.key) this.resetGpu(u, false);
  }

  /** Resets every GPU; `unownedOnly` spares those a live rank owns. */
  resetAll(force: boolean, unownedOnly = false): void {
    for (const uuid of this.queues.keys()) if (!unownedOnly || !this.owners.has(uuid)) this.resetGpu(uuid, force);
  }

  /** Marks the GPUs as the rank's (no warning: they were resolved for it). */
  own(rank: RankState, uuids: readonly string[]): void {
    for (const u of uuids) this.owners.set(u, rank.key);
  }

  /**
   * Brings the GPUs of a resolved Run or Profile rank in line with its spec (idempotent): applies a new plan
   * generation, re-sets a Stage clock, or starts the profiling sweep.
   */
  enforce(rank: RankState, uuids: readonly string[]): void {
    if (rank.spec.mode === 'Run') this.enforcePlan(rank, uuids);
    else if (rank.spec.mode === 'Profile' && rank.sweep === undefined && rank.spec.profiling !== undefined && uuids.length > 0) this.startSweep(rank, uuids);
  }

  private enforcePlan(rank: RankState, uuids: readonly string[]): void {
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
  }

  private startSweep(rank: RankState, uuids: readonly string[]): void {
    const q = this.queues.get(uuids[0]!)!;
    for (const u of uuids) this.queues.get(u)!.pinMemoryClockMax();
    try {
      const driver = {
        setClockMhz: (mhz: number) => this.setClocks(rank, uuids, mhz),
        resetClock: () => {
          for (const u of uuids) this.resetGpu(u, false);
        },
        energyMillijoules: () => this.energyMj(uuids),
      };
      const spec = rank.spec.profiling!;
      rank.sweep = spec.targets === undefined ? new ProfileSweep(spec, rank.spec.stage, q.graphicsClocksMhz, driver) : new TargetedSweep(spec, rank.spec.stage, q.graphicsClocksMhz, driver);
      rank.sweep.start();
      this.logger.info('Started profiling sweep', { namespace: rank.spec.namespace, rank: rank.spec.name, clocks: rank.sweep.clocksMhz.length });
    } catch (err) {
      rank.lastError = (err as Error).message;
    }
  }

  /** The hot path of a Run rank: the clock of one computation. Returns an error for a computation the plan lacks. */
  beginComputation(rank: RankState, gpus: readonly string[], instruction: Instruction, microbatch: number, chunk: number): ErrorReply | undefined {
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

  /** Throttle reasons of the rank's GPUs now (advisory: a GPU that cannot report them is skipped). */
  throttleReasons(uuids: readonly string[]): ClockEventReason[] {
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
    return [...reasons];
  }

  /** Total energy of the GPUs (mJ since the driver loaded). */
  energyMj(uuids: readonly string[]): number {
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
}
