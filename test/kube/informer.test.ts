// The informer keeps its cache right through dropped watches, 410 Gone after compaction and failing
// requests, against the embedded API server.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { systemClock } from '../../src/kube/clock.ts';
import { ClientKubeApi, CONFIGMAPS, kubeConfigFromYaml } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { startApiServer, type ApiServer } from '../../src/sim/apiserver/index.ts';

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
    informer = new Informer(new ClientKubeApi(kc), systemClock, { kind: CONFIGMAPS, namespace: 'default', maxBackoffMs: 200 });
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
