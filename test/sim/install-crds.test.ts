// The simulator installs the project's CRDs into the embedded API server itself. They must arrive whole:
// client-node's typed CRD call would drop every `x-kubernetes-*` key of a plain object (pruning then
// strips pod template fields such as tolerations, and the CEL rules are gone).
import assert from 'node:assert/strict';
import { allCrds } from '../../src/api/crds.ts';
import { ClientKubeletApi } from '../../src/sim/kubelet-api.ts';
import { fetchJson, startHarness, type Harness } from './helpers.ts';
import { describeOnServers } from '../support/servers.ts';

describeOnServers('simulator CRD installation', (kind) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(kind);
  });
  after(async () => {
    await h.server.stop();
  });

  it('installs every CRD with its full schema, extensions included, and keeps unknown pod template fields', async () => {
    await new ClientKubeletApi(h.kc).installCrds(allCrds().map((c) => c.crd));
    for (const { crd } of allCrds()) {
      const stored = (await fetchJson(h.kc, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`)) as { spec: { versions: { schema: unknown }[] } };
      assert.deepEqual(stored.spec.versions[0]?.schema, JSON.parse(JSON.stringify(crd.spec.versions[0]?.schema)), crd.metadata.name);
    }
    const toleration = { key: 'perseus.energy/simulated', operator: 'Equal', value: 'true', effect: 'NoSchedule' };
    const job = {
      apiVersion: 'perseus.energy/v1alpha1',
      kind: 'PerseusTrainingJob',
      metadata: { name: 'tolerant', namespace: 'default' },
      spec: { topology: { stages: 2, microbatches: 4 }, template: { spec: { tolerations: [toleration], containers: [{ name: 'train', image: 'trainer:1' }] } } },
    };
    const created = (await h.custom.createNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseustrainingjobs', namespace: 'default', body: job })) as typeof job;
    // On the shared control plane a job left behind would be run by a later suite's controller, its pod
    // taking a GPU of that suite's simulated nodes (it tolerates their taint).
    await h.custom.deleteNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseustrainingjobs', namespace: 'default', name: 'tolerant' });
    assert.deepEqual(created.spec.template.spec.tolerations, [toleration]);
    // A CEL rule of the schema is enforced (it would be missing from a CRD installed without its extensions).
    const bad = { ...job, metadata: { name: 'bad', namespace: 'default' }, spec: { ...job.spec, gpu: { minFrequencyMhz: 1500, maxFrequencyMhz: 1000 } } };
    await assert.rejects(h.custom.createNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseustrainingjobs', namespace: 'default', body: bad }), /minFrequencyMhz must be ≤ spec.gpu.maxFrequencyMhz/);
  });
});

describe('simulated node taint', () => {
  it('matches tolerations the way Kubernetes does', async () => {
    const { SIMULATED_NODE_TAINT, tolerates } = await import('../../src/sim/simulate/taint.ts');
    assert.equal(tolerates(undefined, SIMULATED_NODE_TAINT), false);
    assert.equal(tolerates([{ operator: 'Exists' }], SIMULATED_NODE_TAINT), true);
    assert.equal(tolerates([{ key: 'perseus.energy/simulated', operator: 'Exists', effect: 'NoSchedule' }], SIMULATED_NODE_TAINT), true);
    assert.equal(tolerates([{ key: 'perseus.energy/simulated', value: 'true' }], SIMULATED_NODE_TAINT), true);
    assert.equal(tolerates([{ key: 'perseus.energy/simulated', value: 'false' }], SIMULATED_NODE_TAINT), false);
    assert.equal(tolerates([{ key: 'perseus.energy/simulated', value: 'true', effect: 'NoExecute' }], SIMULATED_NODE_TAINT), false);
    assert.equal(tolerates([{ key: 'nvidia.com/gpu', operator: 'Exists' }], SIMULATED_NODE_TAINT), false);
  });

  it('adds the toleration and the node selector to a job once, leaving the job it was given unchanged', async () => {
    const { placeOnSimulatedNodes } = await import('../../src/sim/simulate/taint.ts');
    const job = { apiVersion: 'perseus.energy/v1alpha1', kind: 'PerseusTrainingJob', metadata: { name: 'j' }, spec: { template: { spec: { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }], nodeSelector: { zone: 'a' }, containers: [] } } } };
    const once = placeOnSimulatedNodes(job as never);
    const twice = placeOnSimulatedNodes(once);
    const tolerations = (twice.spec['template'] as { spec: { tolerations: unknown[] } }).spec.tolerations;
    assert.deepEqual(tolerations, [
      { key: 'nvidia.com/gpu', operator: 'Exists' },
      { key: 'perseus.energy/simulated', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    ]);
    assert.deepEqual((twice.spec['template'] as { spec: { nodeSelector: unknown } }).spec.nodeSelector, { zone: 'a', 'perseus.energy/simulated': 'true' });
    assert.equal(job.spec.template.spec.tolerations.length, 1);
    assert.deepEqual(job.spec.template.spec.nodeSelector, { zone: 'a' });
  });
});
