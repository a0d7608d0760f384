// Field ownership of the objects the controller owns: it writes them by server-side apply as
// perseus-operator, another manager's fields survive its writes, and a field another manager took over is
// reported (Warning event FieldConflict) and taken back only where the controller forces it.
import assert from 'node:assert/strict';
import { ClientKubeApi, CONFIGMAPS, SERVICES, type KubeObject } from '../../src/kube/client.ts';
import { connectionOf } from '../support/library-kubeconfig.ts';
import { Harness, jobManifest, waitFor, waitForPhase } from './harness.ts';
import { describeOnServers } from '../support/servers.ts';

interface Entry {
  manager: string;
  operation: string;
  fieldsV1?: { 'f:metadata'?: { 'f:labels'?: Record<string, unknown> } };
}

describeOnServers('controller: apply and field ownership', function (kind) {
  this.timeout(120_000);
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.start('ml', kind);
  });
  afterEach(async () => {
    await h.stop();
  });

  it("keeps another manager's fields, reports a conflict, and restores only the fields it forces", async () => {
    await h.startOperator('a');
    await h.createJob(jobManifest());
    await waitForPhase(h, 'gpt', 'Profiling');
    const admin = new ClientKubeApi(connectionOf(h.kc));
    const before = await waitFor('the headless Service', () => admin.get(SERVICES, h.ns, 'gpt'));
    const entries = before.metadata['managedFields'] as Entry[];
    assert.equal(entries.find((e) => e.manager === 'perseus-operator')?.operation, 'Apply');
    assert.equal(before.metadata.labels?.['app.kubernetes.io/managed-by'], 'perseus-operator');

    // Someone else: a label of its own, another value for a label the controller does not force, and
    // another value for a spec field the controller forces.
    const someoneElse = new ClientKubeApi(connectionOf(h.kc), { fieldManager: 'someone-else' });
    await someoneElse.mergePatch(SERVICES, h.ns, 'gpt', {
      metadata: { labels: { team: 'vision', 'app.kubernetes.io/managed-by': 'helm' }, annotations: { 'example.com/owner': 'platform' } },
      spec: { selector: { 'perseus.energy/job': 'other' } },
    });
    const after = await waitFor('the forced field restored', async () => {
      const svc = await admin.get(SERVICES, h.ns, 'gpt');
      return (svc?.['spec'] as { selector?: Record<string, string> } | undefined)?.selector?.['perseus.energy/job'] === 'gpt' ? svc : undefined;
    });
    assert.equal(after.metadata.labels?.['team'], 'vision', "another manager's label survives");
    assert.equal(after.metadata.annotations?.['example.com/owner'], 'platform', "another manager's annotation survives");
    assert.equal(after.metadata.labels?.['app.kubernetes.io/managed-by'], 'helm', 'an unforced field keeps the other value');
    assert.equal(after.metadata.labels?.['perseus.energy/job'], 'gpt');
    const mine = (after.metadata['managedFields'] as Entry[]).find((e) => e.manager === 'perseus-operator' && e.operation === 'Apply');
    assert.ok(mine?.fieldsV1?.['f:metadata']?.['f:labels']?.['f:perseus.energy/job'] !== undefined, 'the controller still owns its label');
    assert.equal(mine?.fieldsV1?.['f:metadata']?.['f:labels']?.['f:app.kubernetes.io/managed-by'], undefined, 'the controller yielded the unforced label');

    const conflicts = await waitFor('two FieldConflict events', async () => {
      const list = (await h.events()).filter((e) => e.reason === 'FieldConflict' && e.type === 'Warning');
      return list.length >= 2 ? list.map((e) => e.message ?? '') : undefined;
    });
    // A Service's selector is an atomic map: the conflict names it whole.
    const forced = conflicts.find((m) => m.includes('field .spec.selector is'));
    assert.ok(forced?.includes('"someone-else"') && forced.includes("restored the controller's value"), forced);
    const yielded = conflicts.find((m) => m.includes('.metadata.labels.app.kubernetes.io/managed-by'));
    assert.ok(yielded?.includes('"someone-else"') && yielded.includes('left their value'), yielded);

    // A later change of a forced field is taken back again; the unforced label keeps the other value.
    await someoneElse.mergePatch(SERVICES, h.ns, 'gpt', { spec: { selector: { 'perseus.energy/job': 'other' } } });
    await waitFor('the forced field restored again', async () => {
      const svc = (await admin.get(SERVICES, h.ns, 'gpt')) as KubeObject;
      return (svc['spec'] as { selector: Record<string, string> }).selector['perseus.energy/job'] === 'gpt';
    });
    const final = await admin.get(SERVICES, h.ns, 'gpt');
    assert.equal(final?.metadata.labels?.['app.kubernetes.io/managed-by'], 'helm');
    // The second restore reports the selector again, and not the label the controller already yielded.
    const later = await waitFor('the second selector conflict reported', async () => {
      const list = (await h.events()).filter((e) => e.reason === 'FieldConflict').map((e) => e.message ?? '');
      return list.filter((m) => m.includes('field .spec.selector is')).length >= 2 ? list : undefined;
    });
    assert.equal(later.filter((m) => m.includes('.metadata.labels.app.kubernetes.io/managed-by')).length, 1, later.join('\n'));
    assert.equal(final?.metadata.labels?.['team'], 'vision');
  });

  it("re-applies the ConfigMap with every key it wrote and another manager's label when a forced field changed", async () => {
    await h.startOperator('a');
    await h.createJob(jobManifest());
    await waitForPhase(h, 'gpt', 'Profiling');
    await waitFor('profiling ranks', async () => {
      const r = await h.ranks();
      return r.length === 3 && r.every((x) => x.spec.tokenSha256 !== undefined);
    });
    await h.reportProfiles('gpt', 3);
    await waitForPhase(h, 'gpt', 'Running');
    const admin = new ClientKubeApi(connectionOf(h.kc));
    const keys = ['frontier.csv', 'planner.json', 'profile.csv'];
    const cm = await waitFor('the ConfigMap with its three keys', async () => {
      const got = await admin.get(CONFIGMAPS, h.ns, 'gpt-perseus');
      return got !== undefined && keys.every((k) => (got['data'] as Record<string, string> | undefined)?.[k] !== undefined) ? got : undefined;
    });
    const data = cm['data'] as Record<string, string>;
    const owner = cm.metadata.ownerReferences?.[0];
    assert.equal(owner?.blockOwnerDeletion, true);
    const someoneElse = new ClientKubeApi(connectionOf(h.kc), { fieldManager: 'someone-else' });
    await someoneElse.mergePatch(CONFIGMAPS, h.ns, 'gpt-perseus', { metadata: { labels: { team: 'vision' }, ownerReferences: [{ ...owner, blockOwnerDeletion: false }] } });
    const after = await waitFor('the owner reference restored', async () => {
      const got = await admin.get(CONFIGMAPS, h.ns, 'gpt-perseus');
      return got?.metadata.ownerReferences?.[0]?.blockOwnerDeletion === true ? got : undefined;
    });
    assert.equal(after.metadata.labels?.['team'], 'vision', "another manager's label survives");
    assert.deepEqual(after['data'], data, 'every key the controller wrote is still there, unchanged');
    const message = await waitFor('a FieldConflict event on the ConfigMap', async () =>
      (await h.events()).find((e) => e.reason === 'FieldConflict' && (e.message ?? '').startsWith('ConfigMap gpt-perseus'))?.message,
    );
    // An owner reference is an atomic struct: the conflict names the whole item.
    assert.match(message, /field \.metadata\.ownerReferences\[uid="[^"]+"\] is also managed by "someone-else"/);
    assert.match(message, /restored the controller's value/);
  });
});
