// applyOwned and its helpers: a 409 with FieldManagerConflict causes is reported, the unforced labels it
// names are dropped and the rest applied again with force; drift is judged on forced fields only.
import assert from 'node:assert/strict';
import { RANKS, SERVICES, type KubeApi, type KubeObject, type ResourceKind } from '../../src/kube/client.ts';
import { toKubeError } from '../../src/kube/errors.ts';
import { HttpStatusError } from '../../src/kube/raw-request.ts';
import { applyOwned, drifted, fieldConflictsOf, YieldedKeys, type FieldConflict } from '../../src/controller/owned-writes.ts';

function conflict(causes: { field: string; manager: string }[]): Error {
  const body = {
    kind: 'Status',
    status: 'Failure',
    reason: 'Conflict',
    code: 409,
    message: `Apply failed with ${causes.length} conflicts`,
    details: { causes: causes.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.manager}`, field: c.field })) },
  };
  return toKubeError(new HttpStatusError(409, JSON.stringify(body)), 'apply services ml/gpt');
}

const service = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'gpt', namespace: 'ml', labels: { 'app.kubernetes.io/managed-by': 'perseus-operator', 'perseus.energy/job': 'gpt' } },
  spec: { clusterIP: 'None', selector: { 'perseus.energy/job': 'gpt' }, ports: [{ name: 'rendezvous', port: 29500, targetPort: 29500 }] },
});

/** A KubeApi whose apply fails with `first` once, then records and echoes what it is given. */
function fakeApi(first: Error | undefined): { api: KubeApi; calls: { object: KubeObject; force: boolean }[] } {
  const calls: { object: KubeObject; force: boolean }[] = [];
  let failure = first;
  const api = {
    apply: (_kind: ResourceKind, _ns: string, object: KubeObject, options: { force?: boolean } = {}) => {
      calls.push({ object: structuredClone(object), force: options.force === true });
      if (failure !== undefined) {
        const err = failure;
        failure = undefined;
        return Promise.reject(err);
      }
      return Promise.resolve(object);
    },
  } as unknown as KubeApi;
  return { api, calls };
}

describe('owned writes', () => {
  it('applies once without force when nothing conflicts', async () => {
    const { api, calls } = fakeApi(undefined);
    const reported: FieldConflict[] = [];
    await applyOwned(api, SERVICES, 'ml', service(), (c) => reported.push(...c));
    assert.deepEqual(calls.map((c) => c.force), [false]);
    assert.deepEqual(reported, []);
  });

  it('reports every conflict, forces the fields it computes and leaves the labels it only passes along', async () => {
    const err = conflict([
      { field: '.spec.selector', manager: '"someone-else" using v1' },
      { field: '.metadata.labels.app.kubernetes.io/managed-by', manager: '"helm"' },
    ]);
    const { api, calls } = fakeApi(err);
    const reported: FieldConflict[] = [];
    await applyOwned(api, SERVICES, 'ml', service(), (c) => reported.push(...c));
    assert.deepEqual(reported, [
      { manager: '"someone-else" using v1', field: '.spec.selector', forced: true },
      { manager: '"helm"', field: '.metadata.labels.app.kubernetes.io/managed-by', forced: false },
    ]);
    assert.deepEqual(calls.map((c) => c.force), [false, true]);
    assert.deepEqual(calls[1]?.object.metadata.labels, { 'perseus.energy/job': 'gpt' });
    assert.deepEqual(calls[1]?.object['spec'], service()['spec']);
  });

  it('applies again without force when only unforced fields conflict', async () => {
    const { api, calls } = fakeApi(conflict([{ field: '.metadata.labels.app.kubernetes.io/managed-by', manager: '"helm"' }]));
    await applyOwned(api, RANKS, 'ml', service(), () => undefined);
    assert.deepEqual(calls.map((c) => c.force), [false, false]);
    assert.equal(calls[1]?.object.metadata.labels?.['app.kubernetes.io/managed-by'], undefined);
  });

  it('remembers a yielded label: the next apply of that object leaves it out and reports nothing', async () => {
    const { api, calls } = fakeApi(conflict([{ field: '.metadata.labels.app.kubernetes.io/managed-by', manager: '"helm"' }]));
    const yielded = new YieldedKeys();
    const reported: FieldConflict[] = [];
    await applyOwned(api, SERVICES, 'ml', service(), (c) => reported.push(...c), yielded);
    await applyOwned(api, SERVICES, 'ml', service(), (c) => reported.push(...c), yielded);
    assert.equal(reported.length, 1, 'reported once');
    assert.equal(calls.length, 3, 'the second write is one apply');
    assert.equal(calls[2]?.object.metadata.labels?.['app.kubernetes.io/managed-by'], undefined);
    assert.equal(calls[2]?.object.metadata.labels?.['perseus.energy/job'], 'gpt');
    // Another object of the same name in another kind or namespace still states the label.
    await applyOwned(api, SERVICES, 'other', service(), () => undefined, yielded);
    assert.equal(calls[3]?.object.metadata.labels?.['app.kubernetes.io/managed-by'], 'perseus-operator');
  });

  it('forgets the oldest object past its limit', () => {
    const yielded = new YieldedKeys(2);
    for (const name of ['a', 'b', 'c']) yielded.add(SERVICES, 'ml', name, [{ map: 'labels', key: 'team' }]);
    assert.equal(yielded.size, 2);
    assert.deepEqual(yielded.of(SERVICES, 'ml', 'a'), []);
    assert.deepEqual(yielded.of(SERVICES, 'ml', 'c'), [{ map: 'labels', key: 'team' }]);
  });

  it('passes on any other failure', async () => {
    const plainConflict = toKubeError(new HttpStatusError(409, JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'the object has been modified' })), 'apply');
    assert.equal(fieldConflictsOf(plainConflict), undefined);
    const { api, calls } = fakeApi(plainConflict);
    await assert.rejects(applyOwned(api, SERVICES, 'ml', service(), () => undefined), /the object has been modified/);
    assert.equal(calls.length, 1);
  });

  it('judges drift on forced fields only, allowing server defaults and other fields', () => {
    const live = structuredClone(service());
    (live['spec'] as { ports: Record<string, unknown>[] }).ports[0]!['protocol'] = 'TCP';
    live.metadata.labels = { ...live.metadata.labels, team: 'vision', 'app.kubernetes.io/managed-by': 'helm' };
    assert.equal(drifted(live, service()), false);
    (live['spec'] as { selector: Record<string, string> }).selector = { 'perseus.energy/job': 'other' };
    assert.equal(drifted(live, service()), true);
  });
});
