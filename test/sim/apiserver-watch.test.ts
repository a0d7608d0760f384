// Conformance of watches: replay from a resourceVersion, synthetic ADDED, bookmarks, timeouts, 410 Gone
// after compaction (and informer relist), selector transitions, and the fault hooks.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { CLUSTER_MADE, deferred, patchAs, embedded, startHarness, statusOf, type Harness } from './helpers.ts';
import { describeOnServers } from '../support/servers.ts';

interface Received {
  type: string;
  object: { metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }; code?: number; reason?: string; message?: string };
}

/** Opens a raw watch and collects events; `until` resolves once `count` events arrived. */
async function collect(h: Harness, path: string, query: Record<string, string | number | boolean>, count: number): Promise<{ events: Received[]; done: Promise<void>; ended: Promise<void>; abort(): void }> {
  const events: Received[] = [];
  const done = deferred<void>();
  const ended = deferred<void>();
  const req = await new k8s.Watch(h.kc).watch(
    path,
    query,
    (type: string, object: Received['object']) => {
      if (CLUSTER_MADE.has(object.metadata?.name ?? '')) return;
      events.push({ type, object });
      if (events.length >= count) done.resolve();
    },
    () => {
      ended.resolve();
      done.resolve();
    },
  );
  return { events, done: done.promise, ended: ended.promise, abort: () => req.abort() };
}

describeOnServers('apiserver: watch', (kind) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(kind, { historySize: 50, bookmarkIntervalMs: 50 });
    await h.core.createNamespace({ body: { metadata: { name: 'w' } } });
  });
  after(async () => h.server.stop());

  it('sends synthetic ADDED for current objects without resourceVersion, then live events', async () => {
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'pre' } } });
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', {}, 4);
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'live' } } });
    await h.core.patchNamespacedConfigMap({ namespace: 'w', name: 'live', body: { data: { a: 'b' } } }, patchAs(k8s.PatchStrategy.MergePatch));
    await h.core.deleteNamespacedConfigMap({ namespace: 'w', name: 'live' });
    await w.done;
    w.abort();
    assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata?.name}`), ['ADDED pre', 'ADDED live', 'MODIFIED live', 'DELETED live']);
    const rvs = w.events.slice(1).map((e) => Number(e.object.metadata?.resourceVersion));
    assert.ok(rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!);
  });

  it('replays history after a resourceVersion', async () => {
    const list = await h.core.listNamespacedConfigMap({ namespace: 'w' });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'r1' } } });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'r2' } } });
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: list.metadata?.resourceVersion ?? '' }, 2);
    await w.done;
    w.abort();
    assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata?.name}`), ['ADDED r1', 'ADDED r2']);
  });

  it('sends BOOKMARK events when asked', async () => {
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: String((await h.server.resourceVersion())), allowWatchBookmarks: true }, 1);
    await w.done;
    w.abort();
    assert.equal(w.events[0]?.type, 'BOOKMARK');
    assert.equal(w.events[0]?.object.metadata?.resourceVersion, String((await h.server.resourceVersion())));
  });

  it('marks the end of initial events for sendInitialEvents', async () => {
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan', allowWatchBookmarks: true }, 4);
    await w.done;
    w.abort();
    const bookmark = w.events.find((e) => e.type === 'BOOKMARK');
    assert.equal(bookmark?.object.metadata?.annotations?.['k8s.io/initial-events-end'], 'true');
  });

  it('ends the stream after timeoutSeconds', async () => {
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: String((await h.server.resourceVersion())), timeoutSeconds: 1 }, 1000);
    await w.ended;
    assert.deepEqual(w.events, []);
  });

  it('turns selector transitions into ADDED and DELETED', async () => {
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'sel', labels: { on: 'no' } } } });
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { labelSelector: 'on=yes', resourceVersion: String((await h.server.resourceVersion())) }, 3);
    const set = (value: string): Promise<unknown> => h.core.patchNamespacedConfigMap({ namespace: 'w', name: 'sel', body: { metadata: { labels: { on: value } } } }, patchAs(k8s.PatchStrategy.MergePatch));
    await set('yes');
    await h.core.patchNamespacedConfigMap({ namespace: 'w', name: 'sel', body: { data: { x: '1' } } }, patchAs(k8s.PatchStrategy.MergePatch));
    await set('no');
    await w.done;
    w.abort();
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('answers a compacted resourceVersion with an ERROR event carrying 410 Expired', async () => {
    const old = (await h.server.resourceVersion());
    for (let i = 0; i < 60; i++) await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: `churn-${i}` } } });
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: String(old) }, 1);
    await w.ended;
    assert.equal(w.events[0]?.type, 'ERROR');
    assert.equal(w.events[0]?.object.code, 410);
    assert.equal(w.events[0]?.object.reason, 'Expired');
    assert.match(w.events[0]?.object.message ?? '', new RegExp(`^too old resource version: ${old} \\(\\d+\\)$`));
  });

  it('an informer relists after 410 and keeps a correct cache', async () => {
    const informer = k8s.makeInformer(h.kc, '/api/v1/namespaces/w/configmaps', () => h.core.listNamespacedConfigMap({ namespace: 'w' }));
    const seen = new Set<string>();
    const waiters: { name: string; resolve(): void }[] = [];
    const onAdd = (obj: k8s.V1ConfigMap): void => {
      const name = obj.metadata?.name ?? '';
      seen.add(name);
      for (const w of waiters.filter((x) => x.name === name)) w.resolve();
    };
    const added = (name: string): Promise<void> => (seen.has(name) ? Promise.resolve() : new Promise((resolve) => waiters.push({ name, resolve })));
    informer.on('add', onAdd);
    informer.on('update', onAdd);
    let relists = 0;
    informer.on('connect', () => relists++);
    await informer.start();
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'inf-1' } } });
    await added('inf-1');
    const connectsBefore = relists;
    // The next watch request gets 410; the informer must relist (not stop silently).
    embedded(h).faults.failNext({ verb: 'watch', resource: 'configmaps' }, 410);
    embedded(h).faults.dropWatches({ resource: 'configmaps' });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'inf-2' } } });
    await added('inf-2');
    assert.ok(relists > connectsBefore);
    assert.ok(informer.get('inf-2', 'w') !== undefined);
    await informer.stop();
  });

  it('compaction through the fault hook forces 410 on an informer watch', async () => {
    const informer = k8s.makeInformer(h.kc, '/api/v1/namespaces/w/configmaps', () => h.core.listNamespacedConfigMap({ namespace: 'w' }));
    const got = deferred<void>();
    informer.on('add', (obj: k8s.V1ConfigMap) => {
      if (obj.metadata?.name === 'after-compact') got.resolve();
    });
    await informer.start();
    const stall = embedded(h).faults.stallWatches({ resource: 'configmaps' });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'after-compact' } } });
    embedded(h).faults.compact();
    embedded(h).faults.dropWatches({ resource: 'configmaps' });
    stall();
    await got.promise;
    await informer.stop();
  });

  it('injects 429 and 500 on matching requests only, then recovers', async () => {
    embedded(h).faults.failNext({ verb: 'get', resource: 'configmaps', name: 'pre' }, 429);
    const throttled = await statusOf(h.core.readNamespacedConfigMap({ namespace: 'w', name: 'pre' }));
    assert.equal(throttled.code, 429);
    assert.equal(throttled.reason, 'TooManyRequests');
    embedded(h).faults.failNext({ verb: 'list', path: /\/configmaps$/ }, 500);
    const broken = await statusOf(h.core.listNamespacedConfigMap({ namespace: 'w' }));
    assert.equal(broken.code, 500);
    assert.equal(broken.reason, 'InternalError');
    assert.equal((await h.core.readNamespacedConfigMap({ namespace: 'w', name: 'pre' })).metadata?.name, 'pre');
  });

  it('stalled watches deliver buffered events when resumed', async () => {
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: String((await h.server.resourceVersion())) }, 1);
    const resume = embedded(h).faults.stallWatches({ resource: 'configmaps' });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'stalled' } } });
    assert.equal(w.events.length, 0);
    resume();
    await w.done;
    w.abort();
    assert.equal(w.events[0]?.object.metadata?.name, 'stalled');
  });

  it('restart keeps state and the port; open watches end', async () => {
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: String((await h.server.resourceVersion())) }, 1000);
    const before = (await h.server.resourceVersion());
    await embedded(h).restart();
    await w.ended;
    const cm = await h.core.readNamespacedConfigMap({ namespace: 'w', name: 'pre' });
    assert.equal(cm.metadata?.name, 'pre');
    assert.equal((await h.server.resourceVersion()), before);
  });
});
