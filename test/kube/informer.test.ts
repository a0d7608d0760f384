// The informer keeps its cache right through dropped watches, 410 Gone after compaction and failing
// requests, against the embedded API server; on both servers it caches objects as its transform shapes them
// (without managedFields by default) and indexes them.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { systemClock } from '../../src/kube/clock.ts';
import { ClientKubeApi, CONFIGMAPS } from '../../src/kube/client.ts';
import { connectionOf, kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { Informer } from '../../src/kube/informer.ts';
import { withMetadataOwnership } from '../../src/kube/trim.ts';
import { startApiServer, type ApiServer } from '../../src/sim/apiserver/index.ts';
import { describeOnServers, startTestServer, type TestServer } from '../support/servers.ts';
import { uniqueSuffix } from '../support/envtest.ts';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Informer', function () {
  this.timeout(30_000);
  let server: ApiServer;
  let core: k8s.CoreV1Api;
  let informer: Informer;
  beforeEach(async () => {
    server = await startApiServer();
    const kc = kubeConfigFromYaml(server.kubeconfigYaml());
    core = kc.makeApiClient(k8s.CoreV1Api);
    informer = new Informer(new ClientKubeApi(connectionOf(kc)), systemClock, { kind: CONFIGMAPS, namespace: 'default', maxBackoffMs: 200 });
  });
  afterEach(async () => {
    await informer.stop();
    await server.stop();
  });

  const create = (name: string): Promise<unknown> => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name } } });

  it('recovers from dropped watches, compaction (410) and server errors', async () => {
    const seen: string[] = [];
    informer.onChange((key, obj) => seen.push(`${obj === undefined ? '-' : '+'}${key}`));
    await create('a');
    informer.start();
    await until(() => informer.hasSynced && informer.get('default', 'a') !== undefined, 'initial list');
    server.faults.dropWatches();
    await create('b');
    await until(() => informer.get('default', 'b') !== undefined, 'b after a dropped watch');
    server.faults.compact();
    server.faults.dropWatches();
    await create('c');
    await until(() => informer.get('default', 'c') !== undefined, 'c after compaction');
    server.faults.failAlways({ resource: 'configmaps', verb: ['list', 'watch'] }, 500);
    server.faults.dropWatches();
    await new Promise((r) => setTimeout(r, 300));
    server.faults.clear();
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'a' });
    await until(() => informer.get('default', 'a') === undefined, 'a deleted after errors');
    assert.ok(informer.restarts >= 1, 'restarted after errors');
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ['b', 'c']);
    assert.ok(seen.includes('-default/a'));
  });
});

describeOnServers('Informer cache shape and index', (kind) => {
  let server: TestServer;
  let core: k8s.CoreV1Api;
  let api: ClientKubeApi;
  let namespace: string;
  const informers: Informer[] = [];
  before(async function () {
    this.timeout(300_000);
    server = await startTestServer(kind);
    const kc = kubeConfigFromYaml(server.kubeconfigYaml());
    core = kc.makeApiClient(k8s.CoreV1Api);
    api = new ClientKubeApi(connectionOf(kc));
    namespace = `informer-${uniqueSuffix()}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async function () {
    this.timeout(120_000);
    await Promise.all(informers.map((i) => i.stop()));
    await server?.stop();
  });

  const informer = (options: Partial<ConstructorParameters<typeof Informer>[2]> = {}): Informer => {
    const inf = new Informer(api, systemClock, { kind: CONFIGMAPS, namespace, labelSelector: 'team', maxBackoffMs: 200, ...options });
    informers.push(inf);
    inf.start();
    return inf;
  };

  it('caches objects without managedFields, from the list and from the watch, and indexes them by a key', async function () {
    this.timeout(60_000);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'listed', labels: { team: 'a' } }, data: { k: 'v' } } });
    const listedLive = await core.readNamespacedConfigMap({ namespace, name: 'listed' });
    assert.ok((listedLive.metadata?.managedFields?.length ?? 0) > 0, 'the server records managedFields');
    const inf = informer({ indexBy: (o) => o.metadata.labels?.['team'] });
    await until(() => inf.hasSynced && inf.get(namespace, 'listed') !== undefined, 'initial list');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'watched', labels: { team: 'b' } }, data: { k: 'w' } } });
    await until(() => inf.get(namespace, 'watched') !== undefined, 'watched');
    for (const name of ['listed', 'watched']) {
      const cached = inf.get(namespace, name);
      assert.equal(cached?.metadata['managedFields'], undefined, `${name}: no managedFields`);
      assert.ok(cached?.metadata.uid !== undefined && cached.metadata.resourceVersion !== undefined, `${name}: the rest of the metadata`);
    }
    assert.deepEqual(inf.get(namespace, 'watched')?.['data'], { k: 'w' });
    assert.deepEqual(inf.byIndex('a').map((o) => o.metadata.name), ['listed']);
    assert.deepEqual(inf.byIndex('b').map((o) => o.metadata.name), ['watched']);
    // A changed index key moves the object; a deleted object leaves its bucket.
    await core.patchNamespacedConfigMap({ namespace, name: 'watched', body: { metadata: { labels: { team: 'a' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await until(() => inf.byIndex('a').length === 2, 'watched moved to a');
    assert.deepEqual(inf.byIndex('b'), []);
    await core.deleteNamespacedConfigMap({ namespace, name: 'listed' });
    await until(() => inf.get(namespace, 'listed') === undefined, 'listed deleted');
    assert.deepEqual(inf.byIndex('a').map((o) => o.metadata.name), ['watched']);
    // A relist keeps the index consistent.
    inf.relist();
    await until(() => inf.hasSynced && inf.size === 1, 'relisted');
    assert.deepEqual(inf.byIndex('a').map((o) => o.metadata.name), ['watched']);
  });

  it('lists in pages of one snapshot, and a paged relist removes what is gone', async function () {
    this.timeout(60_000);
    const pages: { limit: number | undefined; continued: boolean; items: number }[] = [];
    const paging: ClientKubeApi = Object.create(api) as ClientKubeApi;
    paging.list = async (...args: Parameters<ClientKubeApi['list']>) => {
      const result = await api.list(...args);
      pages.push({ limit: args[3]?.limit, continued: args[3]?.continue !== undefined, items: result.items.length });
      return result;
    };
    for (let i = 0; i < 23; i++) await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `paged-${i}`, labels: { pages: 'yes' } } } });
    const inf = new Informer(paging, systemClock, { kind: CONFIGMAPS, namespace, labelSelector: 'pages', pageSize: 5, maxBackoffMs: 200 });
    informers.push(inf);
    inf.start();
    await until(() => inf.hasSynced, 'paged list');
    assert.equal(inf.size, 23);
    assert.deepEqual(pages.map((p) => p.items), [5, 5, 5, 5, 3]);
    assert.ok(pages.every((p) => p.limit === 5));
    assert.deepEqual(pages.map((p) => p.continued), [false, true, true, true, true]);
    for (const i of [0, 7, 22]) await core.deleteNamespacedConfigMap({ namespace, name: `paged-${i}` });
    await until(() => inf.size === 20, 'deletes seen by the watch');
    await inf.stop();
    // Deleted while nothing watched: only the relist (paged again) can tell.
    for (const i of [1, 2]) await core.deleteNamespacedConfigMap({ namespace, name: `paged-${i}` });
    pages.length = 0;
    inf.relist(); // forgets the resourceVersion: the restart lists instead of resuming the watch
    inf.start();
    await until(() => inf.hasSynced && inf.size === 18 && pages.length === 4, 'relisted');
    assert.equal(inf.get(namespace, 'paged-1'), undefined);
    assert.deepEqual(pages.map((p) => p.items), [5, 5, 5, 3]);
  });

  it('keeps only label and annotation ownership with withMetadataOwnership', async function () {
    this.timeout(60_000);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owned', labels: { team: 'c' }, annotations: { note: 'x' } }, data: { big: 'y' } } });
    const inf = informer({ transform: withMetadataOwnership });
    await until(() => inf.hasSynced && inf.get(namespace, 'owned') !== undefined, 'owned');
    const entries = inf.get(namespace, 'owned')?.metadata['managedFields'] as { manager?: string; operation?: string; fieldsV1: Record<string, unknown> }[];
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.operation, 'Update');
    assert.equal(typeof entries[0]?.manager, 'string');
    const fields = entries[0]?.fieldsV1 as { 'f:metadata': Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.keys(fields), ['f:metadata']);
    assert.deepEqual(Object.keys(fields['f:metadata']).sort(), ['f:annotations', 'f:labels']);
    assert.deepEqual(fields['f:metadata']['f:labels']?.['f:team'], {});
    assert.deepEqual(fields['f:metadata']['f:annotations']?.['f:note'], {});
  });
});
