// Leader election on a coordination.k8s.io Lease, like client-go's: acquire when the lease is free or
// expired, renew every retry period, and give up leadership when a renewal has not succeeded within the
// renew deadline. Updates use the lease's resourceVersion, so two candidates can never both win a round.
import type { Clock, TimerHandle } from './clock.ts';
import { LEASES, microTime, type KubeApi, type KubeObject } from './client.ts';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (err: unknown) => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export class LeaderElector {
  private leading = false;
  private stopped = true;
  private timer: TimerHandle | undefined;
  private lastRenewMs = 0;
  private running: Promise<void> = Promise.resolve();
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(
    private readonly api: KubeApi,
    private readonly clock: Clock,
    private readonly options: LeaderElectionOptions,
  ) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
    if (this.leading) {
      this.leading = false;
      try {
        const lease = await this.api.get(LEASES, this.options.namespace, this.options.name);
        const spec = (lease?.['spec'] ?? {}) as LeaseSpec;
        if (lease !== undefined && spec.holderIdentity === this.options.identity) {
          await this.api.replace(LEASES, this.options.namespace, { ...lease, spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1 } });
        }
      } catch (err) {
        this.options.onError?.(err);
      }
      this.options.onStoppedLeading();
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.after(ms, () => {
      this.running = this.round().finally(() => this.schedule(this.retryPeriodMs));
    });
  }

  /** One acquire-or-renew attempt. */
  private async round(): Promise<void> {
    let won = false;
    try {
      won = await this.tryAcquireOrRenew();
    } catch (err) {
      this.options.onError?.(err);
    }
    if (this.stopped) return;
    const now = this.clock.now();
    if (won) {
      this.lastRenewMs = now;
      if (!this.leading) {
        this.leading = true;
        this.options.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenewMs >= this.renewDeadlineMs) {
      this.leading = false;
      this.options.onStoppedLeading();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = this.clock.now();
    const nowTime = microTime(now).toISOString();
    const mine: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000), renewTime: nowTime };
    const lease = await this.api.get(LEASES, namespace, name);
    if (lease === undefined) {
      try {
        await this.api.create(LEASES, namespace, { metadata: { name, namespace }, spec: { ...mine, acquireTime: nowTime, leaseTransitions: 0 } } as KubeObject);
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 409) return false;
        throw err;
      }
    }
    const spec = (lease['spec'] ?? {}) as LeaseSpec;
    const holder = spec.holderIdentity ?? '';
    const renewMs = spec.renewTime === undefined ? 0 : Date.parse(spec.renewTime);
    const expired = holder === '' || renewMs + (spec.leaseDurationSeconds ?? 0) * 1000 <= now;
    if (holder !== identity && !expired) return false;
    const next: LeaseSpec =
      holder === identity
        ? { ...spec, ...mine }
        : // Every change of holder counts, a released Lease's too (as client-go counts them).
          { ...mine, acquireTime: nowTime, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      await this.api.replace(LEASES, namespace, { ...lease, spec: next });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }
}
