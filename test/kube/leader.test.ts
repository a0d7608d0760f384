// Leader election over an in-memory Lease store with optimistic concurrency: one leader at a time, the
// other takes over when the leader stops renewing.
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/kube/clock.ts';
import { LEASES, microTime, type KubeApi, type KubeObject } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/errors.ts';
import { LeaderElector } from '../../src/kube/leader.ts';

function leaseStore(): KubeApi {
  let lease: KubeObject | undefined;
  let rv = 0;
  const unsupported = (): never => {
    throw new Error('unsupported');
  };
  return {
    list: unsupported,
    mergePatch: unsupported,
    apply: unsupported,
    delete: unsupported,
    watch: unsupported,
    get: async () => (lease === undefined ? undefined : structuredClone(lease)),
    create: async (_k, _ns, obj) => {
      if (lease !== undefined) throw new KubeError(409, 'AlreadyExists', 'exists');
      lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
    replace: async (_k, _ns, obj) => {
      if (obj.metadata.resourceVersion !== lease?.metadata.resourceVersion) throw new KubeError(409, 'Conflict', 'conflict');
      lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
  };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('LeaderElector', () => {
  it('writes acquireTime and renewTime as MicroTime: UTC with six fractional digits, as the Lease API requires', async () => {
    const clock = new ManualClock(Date.parse('2026-12-02T18:00:00.123Z'));
    const api = leaseStore();
    const e = new LeaderElector(api, clock, { namespace: 'ns', name: 'l', identity: 'a', onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
    e.start();
    clock.advance(0);
    await flush();
    const spec = (await api.get(LEASES, 'ns', 'l'))?.['spec'] as { acquireTime?: string; renewTime?: string };
    assert.equal(spec.acquireTime, '2026-12-02T18:00:00.123000Z');
    assert.equal(spec.renewTime, '2026-12-02T18:00:00.123000Z');
    assert.equal(microTime(Date.parse('2026-01-01T00:00:00Z')).toISOString(), '2026-01-01T00:00:00.000000Z');
    await e.stop();
  });

  it('elects one leader; the other takes over after the lease expires', async () => {
    const clock = new ManualClock();
    const api = leaseStore();
    const leading: string[] = [];
    const make = (id: string): LeaderElector =>
      new LeaderElector(api, clock, { namespace: 'ns', name: 'l', identity: id, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500, onStartedLeading: () => leading.push(id), onStoppedLeading: () => leading.push(`-${id}`) });
    const a = make('a');
    const b = make('b');
    a.start();
    clock.advance(0);
    await flush();
    b.start();
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      await flush();
    }
    assert.deepEqual(leading, ['a']);
    assert.equal(a.isLeader && b.isLeader, false);
    await a.stop();
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      await flush();
    }
    assert.deepEqual(leading, ['a', '-a', 'b']);
    assert.equal(b.isLeader, true);
    await b.stop();
  });
});
