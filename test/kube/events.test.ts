// The event recorder writes a bounded number of events at a time, queues the rest up to a limit and drops
// (and reports) what comes past it; every event it accepts is written, in order.
import assert from 'node:assert/strict';
import { systemClock } from '../../src/kube/clock.ts';
import type { KubeApi, KubeObject } from '../../src/kube/client.ts';
import { KubeEventRecorder } from '../../src/kube/events.ts';

describe('KubeEventRecorder', () => {
  it('keeps at most `concurrency` writes in flight, queues up to `maxQueued` and drops the rest', async () => {
    let inFlight = 0;
    let most = 0;
    const written: string[] = [];
    const release: (() => void)[] = [];
    const api = {
      create: async (_kind: unknown, _ns: string, object: KubeObject): Promise<KubeObject> => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => release.push(r));
        inFlight--;
        written.push(object['reason'] as string);
        return object;
      },
    } as unknown as KubeApi;
    const errors: string[] = [];
    const recorder = new KubeEventRecorder(api, systemClock, 'test', 'test-0', (err) => errors.push((err as Error).message), { concurrency: 2, maxQueued: 3 });
    const target = { apiVersion: 'v1', kind: 'Pod', namespace: 'ml', name: 'p' };
    const all = Array.from({ length: 7 }, (_, i) => recorder.record(target, 'Normal', `R${i}`, 'm'));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(inFlight, 2);
    assert.deepEqual(errors, ['dropped event R5 of Pod ml/p: 3 events already waiting', 'dropped event R6 of Pod ml/p: 3 events already waiting']);
    while (written.length < 5) {
      release.shift()?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(all);
    assert.equal(most, 2);
    assert.deepEqual(written, ['R0', 'R1', 'R2', 'R3', 'R4']);
    // The slots are free again: the next event is written at once.
    const next = recorder.record(target, 'Warning', 'Later', 'm');
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(inFlight, 1);
    release.shift()?.();
    await next;
    assert.deepEqual(written.at(-1), 'Later');
  });

  it('reports a failed write and goes on with the next', async () => {
    let calls = 0;
    const api = {
      create: async (_k: unknown, _n: string, object: KubeObject): Promise<KubeObject> => {
        if (calls++ === 0) throw new Error('forbidden');
        return object;
      },
    } as unknown as KubeApi;
    const errors: string[] = [];
    const recorder = new KubeEventRecorder(api, systemClock, 'test', 'test-0', (err) => errors.push((err as Error).message), { concurrency: 1 });
    const target = { apiVersion: 'v1', kind: 'Pod', namespace: 'ml', name: 'p' };
    await Promise.all([recorder.record(target, 'Normal', 'A', 'm'), recorder.record(target, 'Normal', 'B', 'm')]);
    assert.deepEqual(errors, ['forbidden']);
    assert.equal(calls, 2);
  });
});
