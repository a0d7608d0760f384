// ContactTrackingApi: successful calls and watch events other than ERROR count as contact; failures do not.
import assert from 'node:assert/strict';
import type { KubeApi, KubeObject, WatchEvent } from '../../src/kube/client.ts';
import { CONFIGMAPS } from '../../src/kube/client.ts';
import { ContactTrackingApi } from '../../src/kube/contact-tracking.ts';

const cm = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'team' } });

function fakeApi(emit: WatchEvent[]): KubeApi {
  return {
    list: () => Promise.resolve({ items: [cm('a')], resourceVersion: '7' }),
    get: (_k, _ns, name) => (name === 'missing' ? Promise.reject(Object.assign(new Error('gone'), { code: 404 })) : Promise.resolve(cm(name))),
    create: (_k, _ns, o) => Promise.resolve(o),
    mergePatch: (_k, _ns, name) => Promise.resolve(cm(name)),
    apply: (_k, _ns, o) => Promise.resolve(o),
    replace: (_k, _ns, o) => Promise.resolve(o),
    delete: () => Promise.resolve(true),
    watch: (_k, _ns, _o, onEvent) => {
      for (const e of emit) onEvent(e);
      return Promise.resolve({ abort: () => undefined });
    },
  } as KubeApi;
}

describe('ContactTrackingApi', () => {
  it('counts every successful call, and not a failed one', async () => {
    let contacts = 0;
    const api = new ContactTrackingApi(fakeApi([]), () => contacts++);
    assert.equal((await api.list(CONFIGMAPS, 'team')).items.length, 1);
    assert.equal((await api.get(CONFIGMAPS, 'team', 'b'))?.metadata.name, 'b');
    await api.create(CONFIGMAPS, 'team', cm('c'));
    await api.mergePatch(CONFIGMAPS, 'team', 'c', { data: {} });
    await api.replace(CONFIGMAPS, 'team', cm('c'));
    assert.equal(await api.delete(CONFIGMAPS, 'team', 'c'), true);
    assert.equal(contacts, 6);
    await assert.rejects(api.get(CONFIGMAPS, 'team', 'missing'), /gone/);
    assert.equal(contacts, 6);
  });

  it('counts watch events and bookmarks but not ERROR events, and passes every event on', async () => {
    let contacts = 0;
    const events: WatchEvent[] = [
      { type: 'ADDED', object: cm('a') },
      { type: 'BOOKMARK', object: cm('') },
      { type: 'ERROR', object: { ...cm(''), code: 410 } },
    ];
    const api = new ContactTrackingApi(fakeApi(events), () => contacts++);
    const seen: string[] = [];
    await api.watch(CONFIGMAPS, 'team', { resourceVersion: '7', timeoutSeconds: 60 }, (e) => seen.push(e.type), () => undefined);
    assert.deepEqual(seen, ['ADDED', 'BOOKMARK', 'ERROR']);
    assert.equal(contacts, 3, 'two events and the watch call itself');
  });
});
