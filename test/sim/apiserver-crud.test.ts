// Conformance of the embedded API server through @kubernetes/client-node: CRUD, errors, object semantics.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { patchAs, startHarness, statusOf, waitForObject, type Harness } from './helpers.ts';
import { CLUSTER_MADE, createNamespace } from './helpers.ts';
import { describeOnServers } from '../support/servers.ts';

/** A node selector no node matches: the pod stays unbound although kube-scheduler runs. */
const UNSCHEDULABLE = { 'perseus.energy/test': 'no-such-node' };

describeOnServers('apiserver: CRUD and object semantics', (kind) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(kind);
    await createNamespace(h, 'crud');
  });
  after(async () => h.server.stop());

  it('creates with uid, creationTimestamp and a growing resourceVersion', async () => {
    const a = await h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'a' }, data: { k: 'v' } } });
    const b = await h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'b' } } });
    assert.match(a.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(a.metadata?.creationTimestamp instanceof Date);
    assert.ok(Number(b.metadata?.resourceVersion) > Number(a.metadata?.resourceVersion));
    const got = await h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'a' });
    assert.deepEqual(got.data, { k: 'v' });
    assert.equal(got.metadata?.resourceVersion, a.metadata?.resourceVersion);
  });

  it('generates names from generateName', async () => {
    const cm = await h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { generateName: 'gen-' } } });
    assert.match(cm.metadata?.name ?? '', /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('answers NotFound, AlreadyExists and Conflict with real Status objects', async () => {
    const missing = await statusOf(h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'nope' }));
    assert.equal(missing.code, 404);
    assert.equal(missing.reason, 'NotFound');
    assert.equal(missing.message, 'configmaps "nope" not found');
    const dup = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'a' } } }));
    assert.equal(dup.code, 409);
    assert.equal(dup.reason, 'AlreadyExists');
    assert.equal(dup.message, 'configmaps "a" already exists');
    const cm = await h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'a' });
    await h.core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'a', body: { ...cm, data: { k: 'v2' } } });
    const stale = await statusOf(h.core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'a', body: { ...cm, data: { k: 'v3' } } }));
    assert.equal(stale.code, 409);
    assert.equal(stale.reason, 'Conflict');
    assert.equal(stale.message, 'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again');
  });

  it('rejects objects in missing namespaces and invalid names', async () => {
    const noNs = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'x' } } }));
    assert.equal(noNs.code, 404);
    assert.equal(noNs.message, 'namespaces "ghost" not found');
    const bad = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'Bad_Name' } } }));
    assert.equal(bad.code, 422);
    assert.equal(bad.reason, 'Invalid');
    assert.match(bad.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    assert.equal(bad.details?.causes?.[0]?.field, 'metadata.name');
    const noName = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: {} } }));
    assert.equal(noName.message, 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required');
  });

  it('lists with label selectors of every operator', async () => {
    await createNamespace(h, 'sel');
    const mk = (name: string, labels: Record<string, string>): Promise<unknown> => h.core.createNamespacedConfigMap({ namespace: 'sel', body: { metadata: { name, labels } } });
    await mk('one', { app: 'a', tier: 'web' });
    await mk('two', { app: 'b', tier: 'db' });
    await mk('three', { app: 'c' });
    const names = async (labelSelector: string): Promise<string[]> => (await h.core.listNamespacedConfigMap({ namespace: 'sel', labelSelector })).items.map((i) => i.metadata?.name ?? '').filter((n) => !CLUSTER_MADE.has(n));
    assert.deepEqual(await names('app=a'), ['one']);
    assert.deepEqual(await names('app==b'), ['two']);
    assert.deepEqual(await names('app!=a'), ['three', 'two']);
    assert.deepEqual(await names('app in (a,c)'), ['one', 'three']);
    assert.deepEqual(await names('app notin (a,c)'), ['two']);
    assert.deepEqual(await names('tier'), ['one', 'two']);
    assert.deepEqual(await names('!tier'), ['three']);
    assert.deepEqual(await names('tier,app!=b'), ['one']);
    const bad = await statusOf(h.core.listNamespacedConfigMap({ namespace: 'sel', labelSelector: 'a b c' }));
    assert.equal(bad.code, 400);
  });

  it('lists with field selectors and rejects unsupported fields', async () => {
    await h.core.createNamespacedPod({ namespace: 'sel', body: { metadata: { name: 'p1' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox:1' }] } } });
    // On the real cluster kube-scheduler would bind an unscheduled pod to the run's fake GPU node: this one selects no node.
    await h.core.createNamespacedPod({ namespace: 'sel', body: { metadata: { name: 'p2' }, spec: { nodeSelector: UNSCHEDULABLE, containers: [{ name: 'c', image: 'busybox:1' }] } } });
    const onNode = await h.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    assert.deepEqual(onNode.items.map((p) => p.metadata?.name), ['p1']);
    const unscheduled = await h.core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'spec.nodeName=,status.phase=Pending' });
    assert.deepEqual(unscheduled.items.map((p) => p.metadata?.name), ['p2']);
    const byName = await h.core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'metadata.name!=p1' });
    assert.deepEqual(byName.items.map((p) => p.metadata?.name), ['p2']);
    const bad = await statusOf(h.core.listNamespacedConfigMap({ namespace: 'sel', fieldSelector: 'data.x=1' }));
    assert.equal(bad.code, 400);
    assert.equal(bad.message, '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"');
  });

  it('defaults pods like the real registry', async () => {
    const pod = await h.core.readNamespacedPod({ namespace: 'sel', name: 'p2' });
    assert.equal(pod.spec?.restartPolicy, 'Always');
    assert.equal(pod.spec?.schedulerName, 'default-scheduler');
    assert.equal(pod.status?.phase, 'Pending');
    assert.equal(pod.status?.qosClass, 'BestEffort');
    const invalidPod = await statusOf(h.core.createNamespacedPod({ namespace: 'sel', body: { metadata: { name: 'p3' }, spec: { containers: [] } } }));
    assert.equal(invalidPod.message, 'Pod "p3" is invalid: spec.containers: Required value');
  });

  it('pages lists with limit and continue, consistently at the first page resourceVersion', async () => {
    await h.core.createNamespace({ body: { metadata: { name: 'paged' } } });
    for (let i = 0; i < 7; i++) await h.core.createNamespacedSecret({ namespace: 'paged', body: { metadata: { name: `cm-${i}` } } });
    const first = await h.core.listNamespacedSecret({ namespace: 'paged', limit: 3 });
    assert.equal(first.items.length, 3);
    assert.equal(first.metadata?.remainingItemCount, 4);
    await h.core.createNamespacedSecret({ namespace: 'paged', body: { metadata: { name: 'cm-9' } } });
    await h.core.deleteNamespacedSecret({ namespace: 'paged', name: 'cm-5' });
    const second = await h.core.listNamespacedSecret({ namespace: 'paged', limit: 3, _continue: first.metadata?._continue ?? '' });
    const third = await h.core.listNamespacedSecret({ namespace: 'paged', limit: 3, _continue: second.metadata?._continue ?? '' });
    const all = [...first.items, ...second.items, ...third.items].map((i) => i.metadata?.name);
    assert.deepEqual(all, ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
    assert.equal(third.metadata?._continue, undefined);
    assert.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
    const now = await h.core.listNamespacedSecret({ namespace: 'paged' });
    assert.ok(Number(now.metadata?.resourceVersion) > Number(first.metadata?.resourceVersion));
    assert.equal(now.items.length, 7);
  });

  it('dryRun=All validates without storing', async () => {
    const rv = (await h.server.resourceVersion());
    const cm = await h.core.createNamespacedConfigMap({ namespace: 'crud', dryRun: 'All', body: { metadata: { name: 'dry' } } });
    assert.equal(cm.metadata?.name, 'dry');
    assert.equal((await h.server.resourceVersion()), rv);
    assert.equal((await statusOf(h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'dry' }))).code, 404);
    await h.core.deleteNamespacedConfigMap({ namespace: 'crud', name: 'a', dryRun: 'All' });
    assert.equal((await h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'a' })).metadata?.name, 'a');
  });

  it('finalizers: delete sets deletionTimestamp, removing the last finalizer deletes', async () => {
    await h.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'fin', finalizers: ['perseus.energy/cleanup'] } } });
    await h.core.deleteNamespacedConfigMap({ namespace: 'crud', name: 'fin' });
    const pending = await h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'fin' });
    assert.ok(pending.metadata?.deletionTimestamp instanceof Date);
    const added = await statusOf(h.core.patchNamespacedConfigMap({ namespace: 'crud', name: 'fin', body: { metadata: { finalizers: ['perseus.energy/cleanup', 'other'] } } }, patchAs(k8s.PatchStrategy.MergePatch)));
    assert.equal(added.code, 422);
    await h.core.patchNamespacedConfigMap({ namespace: 'crud', name: 'fin', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    assert.equal((await statusOf(h.core.readNamespacedConfigMap({ namespace: 'crud', name: 'fin' }))).code, 404);
  });

  it('status subresource: main writes ignore status, status writes ignore spec; generation counts spec changes', async () => {
    const dep = await h.apps.createNamespacedDeployment({
      namespace: 'crud',
      body: { metadata: { name: 'd' }, spec: { replicas: 1, selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } }, status: { replicas: 5 } },
    });
    assert.equal(dep.metadata?.generation, 1);
    assert.equal(dep.status?.replicas, undefined);
    const withStatus = await h.apps.replaceNamespacedDeploymentStatus({ namespace: 'crud', name: 'd', body: { ...dep, spec: { ...dep.spec!, replicas: 9 }, status: { replicas: 1, observedGeneration: 1 } } });
    assert.equal(withStatus.status?.replicas, 1);
    assert.equal(withStatus.spec?.replicas, 1);
    assert.equal(withStatus.metadata?.generation, 1);
    const labelled = await h.apps.patchNamespacedDeployment({ namespace: 'crud', name: 'd', body: { metadata: { labels: { x: 'y' } }, status: { replicas: 7 } } }, patchAs(k8s.PatchStrategy.MergePatch));
    assert.equal(labelled.metadata?.generation, 1);
    assert.equal(labelled.status?.replicas, 1);
    const scaled = await h.apps.patchNamespacedDeployment({ namespace: 'crud', name: 'd', body: { spec: { replicas: 3 } } }, patchAs(k8s.PatchStrategy.MergePatch));
    assert.equal(scaled.metadata?.generation, 2);
  });

  it('a UID in a patch is a precondition: a status patch naming another UID is invalid and changes nothing', async () => {
    const pod = await h.core.createNamespacedPod({ namespace: 'crud', body: { metadata: { name: 'uidpre' }, spec: { nodeSelector: UNSCHEDULABLE, containers: [{ name: 'c', image: 'x:1' }] } } });
    const uid = pod.metadata!.uid!;
    const same = await h.core.patchNamespacedPodStatus({ namespace: 'crud', name: 'uidpre', body: { metadata: { uid }, status: { phase: 'Running' } } }, patchAs(k8s.PatchStrategy.MergePatch));
    assert.equal(same.status?.phase, 'Running');
    const other = await statusOf(h.core.patchNamespacedPodStatus({ namespace: 'crud', name: 'uidpre', body: { metadata: { uid: '00000000-0000-0000-0000-000000000000' }, status: { phase: 'Failed' } } }, patchAs(k8s.PatchStrategy.MergePatch)));
    assert.equal(other.code, 422);
    assert.match(other.message, /metadata\.uid: Invalid value: "00000000-0000-0000-0000-000000000000": field is immutable/);
    const after = await h.core.readNamespacedPod({ namespace: 'crud', name: 'uidpre' });
    assert.equal(after.status?.phase, 'Running');
    assert.equal(after.metadata?.uid, uid);
    await h.core.deleteNamespacedPod({ namespace: 'crud', name: 'uidpre', gracePeriodSeconds: 0 });
  });

  it('pod binding sets spec.nodeName once', async () => {
    await h.core.createNamespacedPod({ namespace: 'crud', body: { metadata: { name: 'tobind' }, spec: { nodeSelector: UNSCHEDULABLE, containers: [{ name: 'c', image: 'x:1' }] } } });
    await h.core.createNamespacedPodBinding({ namespace: 'crud', name: 'tobind', body: { metadata: { name: 'tobind' }, target: { kind: 'Node', name: 'node-1' } } });
    assert.equal((await h.core.readNamespacedPod({ namespace: 'crud', name: 'tobind' })).spec?.nodeName, 'node-1');
    const again = await statusOf(h.core.createNamespacedPodBinding({ namespace: 'crud', name: 'tobind', body: { metadata: { name: 'tobind' }, target: { kind: 'Node', name: 'node-2' } } }));
    assert.equal(again.code, 409);
  });

  it('deletes scheduled pods gracefully until the kubelet confirms', async () => {
    await h.core.deleteNamespacedPod({ namespace: 'crud', name: 'tobind' });
    const terminating = await h.core.readNamespacedPod({ namespace: 'crud', name: 'tobind' });
    assert.equal(terminating.metadata?.deletionGracePeriodSeconds, 30);
    await h.core.deleteNamespacedPod({ namespace: 'crud', name: 'tobind', gracePeriodSeconds: 0 });
    assert.equal((await statusOf(h.core.readNamespacedPod({ namespace: 'crud', name: 'tobind' }))).code, 404);
  });

  it('serves Lease, ServiceAccount, Service, Node, DaemonSet and both Event APIs', async () => {
    const lease = await h.coordination.createNamespacedLease({ namespace: 'crud', body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'me', leaseDurationSeconds: 15 } } });
    assert.equal(lease.spec?.holderIdentity, 'me');
    await h.core.createNamespacedServiceAccount({ namespace: 'crud', body: { metadata: { name: 'sa' } } });
    const svc = await h.core.createNamespacedService({ namespace: 'crud', body: { metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } } });
    assert.equal(svc.spec?.type, 'ClusterIP');
    // The service CIDR: the embedded server's default, the test control plane's loopback range.
    assert.match(svc.spec?.clusterIP ?? '', kind === 'embedded' ? /^10\.96\./ : /^127\.96\./);
    await h.core.createNode({ body: { metadata: { name: 'gpu-node-1', labels: { 'perseus.energy/gpu': 'true' } } } });
    assert.equal((await h.core.listNode({ labelSelector: 'perseus.energy/gpu=true' })).items.length, 1);
    const ds = await h.apps.createNamespacedDaemonSet({ namespace: 'crud', body: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'perseus:1' }] } } } } });
    assert.equal(ds.spec?.updateStrategy?.type, 'RollingUpdate');
    await h.core.createNamespacedEvent({ namespace: 'crud', body: { metadata: { name: 'ev1' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'crud', uid: 'u1' }, reason: 'Started', message: 'hello', type: 'Normal' } });
    const v1 = await h.events.readNamespacedEvent({ namespace: 'crud', name: 'ev1' });
    assert.equal(v1.note, 'hello');
    assert.equal(v1.regarding?.name, 'p');
    const byInvolved = await h.core.listNamespacedEvent({ namespace: 'crud', fieldSelector: 'involvedObject.name=p,involvedObject.kind=Pod,involvedObject.uid=u1' });
    assert.equal(byInvolved.items.length, 1);
  });
});

describeOnServers('apiserver: garbage collection and namespaces', (kind) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(kind);
    await h.core.createNamespace({ body: { metadata: { name: 'gc' } } });
  });
  after(async () => h.server.stop());

  async function owned(owner: k8s.V1ConfigMap, name: string, extra: Partial<k8s.V1OwnerReference> = {}): Promise<void> {
    await h.core.createNamespacedConfigMap({
      namespace: 'gc',
      body: { metadata: { name, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata?.name ?? '', uid: owner.metadata?.uid ?? '', ...extra }] } },
    });
  }

  function waitGone(name: string, namespace = 'gc'): Promise<void> {
    // GC runs asynchronously, as in a real cluster: wait for the DELETED event.
    return waitForObject(h.kc, `/api/v1/namespaces/${namespace}/configmaps`, name, (type) => type === 'DELETED');
  }

  it('background propagation deletes dependents after the owner', async () => {
    const owner = await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'owner-bg' } } });
    await owned(owner, 'dep-bg');
    await h.core.deleteNamespacedConfigMap({ namespace: 'gc', name: 'owner-bg' });
    await waitGone('dep-bg');
    assert.equal((await statusOf(h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'dep-bg' }))).code, 404);
  });

  it('keeps dependents with another live owner, dropping the dangling reference', async () => {
    const a = await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'owner-a' } } });
    const b = await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'owner-b' } } });
    await h.core.createNamespacedConfigMap({
      namespace: 'gc',
      body: { metadata: { name: 'dep-two', ownerReferences: [a, b].map((o) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata?.name ?? '', uid: o.metadata?.uid ?? '' })) } },
    });
    await h.core.deleteNamespacedConfigMap({ namespace: 'gc', name: 'owner-a' });
    await waitForObject(h.kc, '/api/v1/namespaces/gc/configmaps', 'dep-two', (_type, obj) => obj?.metadata?.ownerReferences?.length === 1);
    const dep = await h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'dep-two' });
    assert.deepEqual(dep.metadata?.ownerReferences?.map((r) => r.name), ['owner-b']);
  });

  it('foreground propagation keeps the owner until dependents are gone', async () => {
    const owner = await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'owner-fg' } } });
    await owned(owner, 'dep-fg', { blockOwnerDeletion: true });
    await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'dep-fg-hold', finalizers: ['test.perseus.energy/hold'], ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner-fg', uid: owner.metadata?.uid ?? '', blockOwnerDeletion: true }] } } });
    await h.core.deleteNamespacedConfigMap({ namespace: 'gc', name: 'owner-fg', propagationPolicy: 'Foreground' });
    const deleting = await h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'owner-fg' });
    assert.ok(deleting.metadata?.finalizers?.includes('foregroundDeletion'));
    await waitGone('dep-fg');
    assert.ok((await h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'owner-fg' })).metadata?.deletionTimestamp);
    await h.core.patchNamespacedConfigMap({ namespace: 'gc', name: 'dep-fg-hold', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    await waitGone('owner-fg');
    assert.equal((await statusOf(h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'owner-fg' }))).code, 404);
  });

  it('orphan propagation removes owner references and keeps dependents', async () => {
    const owner = await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'owner-or' } } });
    await owned(owner, 'dep-or');
    await h.core.deleteNamespacedConfigMap({ namespace: 'gc', name: 'owner-or', propagationPolicy: 'Orphan' });
    await waitGone('owner-or');
    const dep = await h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'dep-or' });
    assert.equal(dep.metadata?.ownerReferences, undefined);
  });

  it('namespace deletion removes contents, shows Terminating, then removes the namespace', async () => {
    await h.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await h.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'held', finalizers: ['test.perseus.energy/hold'] } } });
    await h.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'free' } } });
    await h.core.deleteNamespace({ name: 'doomed' });
    const ns = await h.core.readNamespace({ name: 'doomed' });
    assert.equal(ns.status?.phase, 'Terminating');
    const forbidden = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }));
    assert.equal(forbidden.code, 403);
    assert.equal(forbidden.message, 'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated');
    await waitGone('free', 'doomed');
    const held = await h.core.readNamespacedConfigMap({ namespace: 'doomed', name: 'held' });
    assert.ok(held.metadata?.deletionTimestamp instanceof Date);
    await h.core.patchNamespacedConfigMap({ namespace: 'doomed', name: 'held', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    await waitForObject(h.kc, '/api/v1/namespaces', 'doomed', (type) => type === 'DELETED');
    assert.equal((await statusOf(h.core.readNamespace({ name: 'doomed' }))).code, 404);
  });
});
