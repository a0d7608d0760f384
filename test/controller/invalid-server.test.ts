// Every invalid job of the table, sent to the embedded API server with the generated CRDs installed, is
// rejected there naming the field, or accepted and then failed by the controller with InvalidSpec naming it.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { cases, validJob, withValue } from '../api/invalid-cases.ts';
import { Harness, waitFor } from './harness.ts';
import { describeOnServers } from '../support/servers.ts';

describeOnServers('invalid jobs on the API server', function (kind) {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await Harness.start('ml', kind);
    await h.startOperator('v');
  });
  after(async () => {
    await h.stop();
  });

  cases.forEach((c, i) => {
    it(`${c.name}: rejected or InvalidSpec naming ${c.field}`, async () => {
      const base = validJob();
      let spec = base.spec;
      for (const [at, value] of Object.entries(c.set)) spec = withValue(spec, at, value);
      const name = c.metadataName ?? `bad-${i}`;
      const manifest = (s: unknown): unknown => ({ apiVersion: 'perseus.energy/v1alpha1', kind: 'PerseusTrainingJob', metadata: { name, namespace: h.ns }, spec: s });
      let rejection: string | undefined;
      try {
        if (c.update === true) {
          await h.createJob(manifest(base.spec));
          await waitFor('accepted', async () => (await h.job(name)).status?.accepted !== undefined);
          await h.patchJobSpec(name, Object.fromEntries(Object.entries(spec).filter(([k]) => k in c.set || Object.keys(c.set).some((p) => p.startsWith(`${k}.`)))));
        } else {
          await h.createJob(manifest(spec));
        }
      } catch (err) {
        if (!(err instanceof k8s.ApiException)) throw err;
        rejection = `${err.code} ${String(err.body)}`;
      }
      if (rejection !== undefined) {
        assert.match(rejection, /^422 /);
        const field = c.field.replace(/\[\d+\]/g, '');
        assert.ok(rejection.replace(/\[\d+\]/g, '').includes(field) || rejection.includes(c.field), `rejection names ${c.field}: ${rejection.slice(0, 400)}`);
        return;
      }
      if (c.field === 'spec.replicas' || c.field === 'spec.topology.pipelines') {
        // Unknown fields are pruned by the API server (kubectl's strict validation rejects them client-side).
        const stored = JSON.stringify((await h.job(name)).spec);
        assert.ok(!stored.includes('"replicas"') && !stored.includes('"pipelines"'), 'pruned');
        return;
      }
      const job = await waitFor('InvalidSpec', async () => {
        const j = await h.job(name);
        return j.status?.conditions?.some((x) => x.type === 'InvalidSpec') ? j : undefined;
      });
      assert.equal(job.status?.phase, 'Failed');
      const message = job.status?.conditions?.find((x) => x.type === 'InvalidSpec')?.message ?? '';
      assert.ok(message.includes(c.field), message);
    });
  });
});
