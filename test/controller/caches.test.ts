// What the controller caches of its children: a pod keeps what podInfo reads, ranks and Services keep the
// label and annotation ownership, and children are indexed by their job.
import assert from 'node:assert/strict';
import { LABELS } from '../../src/api/index.ts';
import { CONFIGMAPS, JOBS, PODS, RANKS, SERVICES, type KubeObject } from '../../src/kube/client.ts';
import { cachedPod, cacheTransform, jobIndexKey } from '../../src/controller/caches.ts';

const managedFields = [
  { manager: 'perseus-operator', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:containers': {} } } },
  { manager: 'kubelet', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': { 'f:phase': {} } } },
];

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ml', uid: 'u1', resourceVersion: '7', labels: { [LABELS.job]: 'train', team: 'a' }, annotations: { note: 'x' }, ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'train', uid: 'j1' }], managedFields },
  spec: { nodeName: 'node-1', containers: [{ name: 'trainer', image: 'example/train:1', env: [{ name: 'A', value: 'b' }] }], tolerations: [] },
  status: { phase: 'Running', reason: 'R', conditions: [{ type: 'Ready', status: 'True' }] },
};

describe('controller caches', () => {
  it('keeps of a pod its metadata without managedFields, spec.nodeName and status', () => {
    const { managedFields: _m, ...metadata } = pod.metadata;
    assert.deepEqual(cachedPod(pod), { apiVersion: 'v1', kind: 'Pod', metadata, spec: { nodeName: 'node-1' }, status: pod['status'] });
    assert.deepEqual(cachedPod({ metadata: { name: 'q' }, spec: { containers: [] } }), { metadata: { name: 'q' }, spec: {} });
    assert.equal(cacheTransform(PODS), cachedPod);
  });

  it('keeps no managedFields of ranks, Services, jobs and ConfigMaps (applies learn of other managers from their conflicts)', () => {
    const rank: KubeObject = { metadata: { name: 'r', managedFields }, spec: { mode: 'Run' } };
    for (const kind of [RANKS, SERVICES, JOBS, CONFIGMAPS]) assert.deepEqual(cacheTransform(kind)(rank), { metadata: { name: 'r' }, spec: { mode: 'Run' } });
    assert.equal(cacheTransform(RANKS)({ metadata: { name: 'bare' } }).metadata['managedFields'], undefined);
    assert.deepEqual(rank.metadata.managedFields, managedFields, 'the object the informer delivered is left as it was');
  });

  it("keeps of a job's ConfigMap only the data keys decide() reads", () => {
    const cm: KubeObject = {
      metadata: { name: 'train-perseus', managedFields },
      data: { 'profile.csv': 'p', 'profiling.json': '{}', 'frontier.csv': 'time,energy\n'.repeat(1000), 'planner.json': '{}', 'profile-model.csv': 'm' },
    };
    assert.deepEqual(cacheTransform(CONFIGMAPS)(cm), { metadata: { name: 'train-perseus' }, data: { 'profile.csv': 'p', 'profiling.json': '{}' } });
    assert.equal(Object.keys(cm['data'] as object).length, 5, 'the delivered object is left as it was');
  });

  it('indexes a child by namespace and job label', () => {
    assert.equal(jobIndexKey(pod), 'ml/train');
    assert.equal(jobIndexKey({ metadata: { name: 'x', labels: { [LABELS.job]: 'j' } } }), '/j');
    assert.equal(jobIndexKey({ metadata: { name: 'x', namespace: 'ml' } }), undefined);
  });
});
