// The work queue deduplicates keys, never hands one key to two workers, and backs off failed keys.
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/kube/clock.ts';
import { WorkQueue } from '../../src/kube/workqueue.ts';

describe('WorkQueue', () => {
  it('deduplicates queued keys', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
  });

  it('re-queues a key added while in flight only after done()', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    const key = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'not handed to a second worker');
    q.done(key ?? '');
    assert.equal(q.length, 1);
  });

  it('backs off exponentially per key, capped, and forget() resets it', () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock, { baseDelayMs: 100, maxDelayMs: 1000 });
    assert.deepEqual([1, 2, 3, 4, 5].map(() => q.addRateLimited('a')), [100, 200, 400, 800, 1000]);
    q.forget('a');
    assert.equal(q.addRateLimited('a'), 100);
  });

  it('delivers delayed keys when their time comes; the earliest delay wins', () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock);
    q.addAfter('a', 5000);
    q.addAfter('a', 1000);
    clock.advance(999);
    assert.equal(q.length, 0);
    clock.advance(1);
    assert.equal(q.length, 1);
    clock.advance(10_000);
    assert.equal(q.length, 1);
  });

  it('resolves waiting workers with undefined on shutdown and cancels timers', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock);
    q.addAfter('x', 1000);
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);
    assert.equal(clock.pendingTimers, 0);
  });
});
