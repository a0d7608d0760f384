// Conformance of the patch types and server-side apply through client-node.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { patchAs, postJson, startHarness, statusOf, widgetCrd, type Harness } from './helpers.ts';
import { describeOnServers } from '../support/servers.ts';

const deployment = (image: string): k8s.V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'p' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'main', image, env: [{ name: 'A', value: '1' }] }, { name: 'side', image: 'side:1' }] },
    },
  },
});

describeOnServers('apiserver: patch and server-side apply', (kind) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(kind);
    await h.core.createNamespace({ body: { metadata: { name: 'p' } } });
    await postJson(h.kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd);
  });
  after(async () => h.server.stop());

  it('JSON patch: add, replace, remove, test', async () => {
    await h.core.createNamespacedConfigMap({ namespace: 'p', body: { metadata: { name: 'jp' }, data: { a: '1', b: '2' } } });
    const out = await h.core.patchNamespacedConfigMap({
      namespace: 'p',
      name: 'jp',
      body: [
        { op: 'test', path: '/data/a', value: '1' },
        { op: 'replace', path: '/data/a', value: 'x' },
        { op: 'remove', path: '/data/b' },
        { op: 'add', path: '/metadata/labels', value: { l: 'v' } },
      ],
    });
    assert.deepEqual(out.data, { a: 'x' });
    assert.deepEqual(out.metadata?.labels, { l: 'v' });
    const failed = await statusOf(h.core.patchNamespacedConfigMap({ namespace: 'p', name: 'jp', body: [{ op: 'test', path: '/data/a', value: 'nope' }] }));
    assert.equal(failed.code, 422);
  });

  it('merge patch: null deletes a key, lists are replaced', async () => {
    const out = await h.core.patchNamespacedConfigMap({ namespace: 'p', name: 'jp', body: { data: { a: null, c: '3' }, metadata: { finalizers: ['test.perseus.energy/x'] } } }, patchAs(k8s.PatchStrategy.MergePatch));
    assert.deepEqual(out.data, { c: '3' });
    const again = await h.core.patchNamespacedConfigMap({ namespace: 'p', name: 'jp', body: { metadata: { finalizers: null } } }, patchAs(k8s.PatchStrategy.MergePatch));
    assert.equal(again.metadata?.finalizers, undefined);
  });

  it('strategic merge patch merges containers by name and env by name', async () => {
    await h.apps.createNamespacedDeployment({ namespace: 'p', body: deployment('main:1') });
    const out = await h.apps.patchNamespacedDeployment(
      { namespace: 'p', name: 'web', body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'main:2', env: [{ name: 'B', value: '2' }] }] } } } } },
      patchAs(k8s.PatchStrategy.StrategicMergePatch),
    );
    const containers = out.spec?.template.spec?.containers ?? [];
    assert.deepEqual(containers.map((c) => `${c.name}=${c.image}`), ['main=main:2', 'side=side:1']);
    // Without $setElementOrder new items of the patch come before the server's (kube-apiserver's order).
    assert.deepEqual(containers[0]?.env?.map((e) => e.name), ['B', 'A']);
    const deleted = await h.apps.patchNamespacedDeployment({ namespace: 'p', name: 'web', body: { spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } } } }, patchAs(k8s.PatchStrategy.StrategicMergePatch));
    assert.deepEqual(deleted.spec?.template.spec?.containers.map((c) => c.name), ['main']);
  });

  it('server-side apply creates, records managedFields and conflicts with another manager', async () => {
    const apply = (body: object, fieldManager: string, force = false): Promise<k8s.V1ConfigMap> =>
      h.core.patchNamespacedConfigMap({ namespace: 'p', name: 'ssa', body, fieldManager, force }, patchAs(k8s.PatchStrategy.ServerSideApply));
    const created = await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', labels: { owner: 'a' } }, data: { shared: '1', onlyA: 'x' } }, 'manager-a');
    assert.equal(created.data?.['shared'], '1');
    const entry = created.metadata?.managedFields?.find((m) => m.manager === 'manager-a');
    assert.equal(entry?.operation, 'Apply');
    assert.deepEqual(entry?.fieldsV1, { 'f:data': { 'f:onlyA': {}, 'f:shared': {} }, 'f:metadata': { 'f:labels': { 'f:owner': {} } } });
    const status = await statusOf(apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { shared: '2' } }, 'manager-b'));
    assert.equal(status.code, 409);
    assert.equal(status.reason, 'Conflict');
    assert.equal(status.message, 'Apply failed with 1 conflict: conflict with "manager-a": .data.shared');
    assert.deepEqual(status.details?.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "manager-a"', field: '.data.shared' }]);
    // Same value: shared ownership, no conflict.
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { shared: '1' } }, 'manager-b');
    const forced = await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { onlyA: 'mine' } }, 'manager-b', true);
    assert.equal(forced.data?.['onlyA'], 'mine');
    const a = forced.metadata?.managedFields?.find((m) => m.manager === 'manager-a');
    assert.deepEqual(a?.fieldsV1, { 'f:data': { 'f:shared': {} }, 'f:metadata': { 'f:labels': { 'f:owner': {} } } });
  });

  it('server-side apply removes fields a manager stops applying', async () => {
    const apply = (data: Record<string, string>): Promise<k8s.V1ConfigMap> =>
      h.core.patchNamespacedConfigMap({ namespace: 'p', name: 'drop', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'drop' }, data }, fieldManager: 'solo' }, patchAs(k8s.PatchStrategy.ServerSideApply));
    await apply({ a: '1', b: '2' });
    const after = await apply({ a: '1' });
    assert.deepEqual(after.data, { a: '1' });
  });

  it('server-side apply merges list-maps by key and conflicts on an Update owner', async () => {
    const apply = (containers: object[], manager: string, force = false): Promise<k8s.V1Deployment> =>
      h.apps.patchNamespacedDeployment(
        { namespace: 'p', name: 'ssa-web', fieldManager: manager, force, body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ssa-web' }, spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers } } } } },
        patchAs(k8s.PatchStrategy.ServerSideApply),
      );
    await apply([{ name: 'a', image: 'a:1' }], 'one');
    const two = await apply([{ name: 'b', image: 'b:1' }], 'two');
    assert.deepEqual(two.spec?.template.spec?.containers.map((c) => c.name), ['a', 'b']);
    await h.apps.patchNamespacedDeployment({ namespace: 'p', name: 'ssa-web', fieldManager: 'scaler', body: { spec: { replicas: 5 } } }, patchAs(k8s.PatchStrategy.MergePatch));
    const status = await statusOf(h.apps.patchNamespacedDeployment({ namespace: 'p', name: 'ssa-web', fieldManager: 'one', body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ssa-web' }, spec: { replicas: 1 } } }, patchAs(k8s.PatchStrategy.ServerSideApply)));
    assert.equal(status.message, 'Apply failed with 1 conflict: conflict with "scaler" using apps/v1: .spec.replicas');
    const image = await statusOf(apply([{ name: 'b', image: 'b:2' }], 'one'));
    assert.equal(image.message, 'Apply failed with 1 conflict: conflict with "two": .spec.template.spec.containers[name="b"].image');
  });

  it('server-side apply on custom resources validates and tracks status separately', async () => {
    const group = 'test.perseus.energy';
    const body = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'applied' }, spec: { stages: 2 } };
    const out = (await h.custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'p', plural: 'widgets', name: 'applied', body, fieldManager: 'ctl' }, patchAs(k8s.PatchStrategy.ServerSideApply))) as { spec: { stages: number; mode: string } };
    assert.equal(out.spec.mode, 'Fast');
    const invalid = await statusOf(h.custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'p', plural: 'widgets', name: 'applied', body: { ...body, spec: { stages: 0 } }, fieldManager: 'ctl' }, patchAs(k8s.PatchStrategy.ServerSideApply)));
    assert.equal(invalid.code, 422);
    const st = (await h.custom.patchNamespacedCustomObjectStatus({ group, version: 'v1', namespace: 'p', plural: 'widgets', name: 'applied', body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'applied' }, status: { phase: 'Running' } }, fieldManager: 'operator', force: true }, patchAs(k8s.PatchStrategy.ServerSideApply))) as { status: { phase: string }; metadata: { managedFields: { manager: string; subresource?: string }[] } };
    assert.equal(st.status.phase, 'Running');
    assert.equal(st.metadata.managedFields.find((m) => m.manager === 'operator')?.subresource, 'status');
  });

  it('apply requires a fieldManager', async () => {
    const status = await statusOf(h.core.patchNamespacedConfigMap({ namespace: 'p', name: 'nofm', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nofm' } } }, patchAs(k8s.PatchStrategy.ServerSideApply)));
    assert.equal(status.code, 422);
    assert.equal(status.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  });
});
