// Conformance of CustomResourceDefinitions: registration, discovery, structural schema validation with
// the real messages, defaulting, pruning, CEL rules, status subresource and generation.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { fetchJson, gadgetCrd, patchAs, postJson, startHarness, statusOf, waitForObject, widgetCrd, type Harness } from './helpers.ts';
import { describeOnServers } from '../support/servers.ts';

const group = 'test.perseus.energy';
const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

async function postStatus(h: Harness, body: unknown): Promise<{ code: number; message: string }> {
  try {
    await postJson(h.kc, crdPath, body);
  } catch (err) {
    return JSON.parse((err as Error).message.replace(/^[^{]*/, '')) as { code: number; message: string };
  }
  throw new Error('expected the request to fail');
}

describeOnServers('apiserver: custom resources', (kind) => {
  let h: Harness;
  const create = (spec: Record<string, unknown>, name = 'w', extra: Record<string, unknown> = {}): Promise<object> =>
    h.custom.createNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'widgets', body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec, ...extra } });

  before(async () => {
    h = await startHarness(kind);
    // kube-apiserver establishes a new CRD, and serves it in discovery, asynchronously (the embedded server at once).
    const established = (_type: string, obj: unknown): boolean => (obj as { status?: { conditions?: { type: string; status: string }[] } } | undefined)?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true;
    for (const crd of [widgetCrd, gadgetCrd]) {
      await postJson(h.kc, crdPath, crd);
      await waitForObject(h.kc, crdPath, crd.metadata.name, established);
    }
    // Discovery follows Established (as clients see it: they retry an unknown resource).
    const served = async (): Promise<boolean> => ((await fetchJson(h.kc, `/apis/${group}/v1`))['resources'] as { name: string }[] | undefined)?.some((r) => r.name === 'gadgets') === true;
    for (const deadline = Date.now() + 30_000; !(await served()) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
  });
  after(async () => h.server.stop());

  it('serves the new type in discovery with scope, short names and subresources', async () => {
    const list = await fetchJson(h.kc, `/apis/${group}/v1`);
    const resources = list['resources'] as { name: string; namespaced: boolean; kind: string; shortNames?: string[] }[];
    assert.deepEqual(resources.map((r) => r.name).sort(), ['gadgets', 'widgets', 'widgets/status']);
    assert.equal(resources.find((r) => r.name === 'widgets')?.namespaced, true);
    assert.deepEqual(resources.find((r) => r.name === 'widgets')?.shortNames, ['wdg']);
    assert.equal(resources.find((r) => r.name === 'gadgets')?.namespaced, false);
    const groups = await fetchJson(h.kc, '/apis');
    assert.ok((groups['groups'] as { name: string }[]).some((g) => g.name === group));
  });

  it('applies defaults and prunes unknown fields, keeping preserved and embedded ones', async () => {
    const w = (await create({ stages: 4, unknownField: 1, extra: { anything: { goes: true } }, template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', bogus: 1 }, spec: { a: 1 } } }, 'defaults')) as { spec: Record<string, unknown>; metadata: { generation: number } };
    assert.equal(w.spec['mode'], 'Fast');
    assert.equal(w.spec['minStages'], 1);
    assert.equal('unknownField' in w.spec, false);
    assert.deepEqual(w.spec['extra'], { anything: { goes: true } });
    assert.deepEqual(w.spec['template'], { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { a: 1 } });
    assert.equal(w.metadata.generation, 1);
  });

  it('rejects unknown fields with fieldValidation=Strict', async () => {
    const status = await statusOf(
      h.custom.createNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'widgets', fieldValidation: 'Strict', body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'strict' }, spec: { stages: 1, bogus: true } } }),
    );
    assert.equal(status.code, 400);
    assert.equal(status.message, 'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus"');
  });

  // The widget's CEL rule (minStages <= stages) is evaluated beside schema errors, unless one of those
  // leaves the object mistyped or incomplete: then the server says the rules were skipped.
  const cel = 'spec: Invalid value: "object": minStages must not exceed stages';
  const skipped = '<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';
  const cases: { title: string; spec: Record<string, unknown>; message: string; reason: string; field: string; also?: [reason: string, field: string, message: string] }[] = [
    { title: 'minimum', spec: { stages: 0 }, message: 'spec.stages: Invalid value: 0: spec.stages in body should be greater than or equal to 1', reason: 'FieldValueInvalid', field: 'spec.stages', also: ['FieldValueInvalid', 'spec', cel] },
    { title: 'maximum', spec: { stages: 65 }, message: 'spec.stages: Invalid value: 65: spec.stages in body should be less than or equal to 64', reason: 'FieldValueInvalid', field: 'spec.stages' },
    { title: 'type', spec: { stages: 'four' }, message: 'spec.stages: Invalid value: "string": spec.stages in body must be of type integer: "string"', reason: 'FieldValueTypeInvalid', field: 'spec.stages', also: ['FieldValueInvalid', '<nil>', skipped] },
    { title: 'required', spec: { mode: 'Fast' }, message: 'spec.stages: Required value', reason: 'FieldValueRequired', field: 'spec.stages', also: ['FieldValueInvalid', '<nil>', skipped] },
    { title: 'enum', spec: { stages: 1, mode: 'Medium' }, message: 'spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow"', reason: 'FieldValueNotSupported', field: 'spec.mode' },
    { title: 'minLength', spec: { stages: 1, name: 'a' }, message: 'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long', reason: 'FieldValueInvalid', field: 'spec.name' },
    { title: 'maxLength', spec: { stages: 1, name: 'abcdefghij' }, message: 'spec.name: Too long: may not be longer than 8', reason: 'FieldValueTooLong', field: 'spec.name', also: ['FieldValueInvalid', '<nil>', skipped] },
    { title: 'pattern', spec: { stages: 1, name: 'ab1' }, message: "spec.name: Invalid value: \"ab1\": spec.name in body should match '^[a-z]+$'", reason: 'FieldValueInvalid', field: 'spec.name' },
    { title: 'minItems', spec: { stages: 1, tags: [] }, message: 'spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items', reason: 'FieldValueInvalid', field: 'spec.tags' },
    { title: 'maxItems', spec: { stages: 1, tags: ['a', 'b', 'c', 'd'] }, message: 'spec.tags: Too many: 4: must have at most 3 items', reason: 'FieldValueTooMany', field: 'spec.tags', also: ['FieldValueInvalid', '<nil>', skipped] },
    { title: 'set uniqueness', spec: { stages: 1, tags: ['a', 'a'] }, message: 'spec.tags[1]: Duplicate value: "a"', reason: 'FieldValueDuplicate', field: 'spec.tags[1]' },
    { title: 'int-or-string', spec: { stages: 1, size: true }, message: 'spec.size: Invalid value: "boolean": spec.size in body must be of type integer,string: "boolean"', reason: 'FieldValueTypeInvalid', field: 'spec.size', also: ['FieldValueInvalid', '<nil>', skipped] },
    { title: 'CEL rule', spec: { stages: 2, minStages: 3 }, message: 'spec: Invalid value: "object": minStages must not exceed stages', reason: 'FieldValueInvalid', field: 'spec' },
  ];
  for (const c of cases) {
    it(`rejects ${c.title} violations with the real message`, async () => {
      const status = await statusOf(create(c.spec, `bad-${c.title.replace(/[^a-z]/gi, '').toLowerCase()}`));
      assert.equal(status.code, 422);
      assert.equal(status.reason, 'Invalid');
      const text = c.also ? `[${c.message}, ${c.also[2]}]` : c.message;
      assert.equal(status.message, `Widget.${group} "bad-${c.title.replace(/[^a-z]/gi, '').toLowerCase()}" is invalid: ${text}`);
      const causes = [{ reason: c.reason, field: c.field, message: c.message.slice(c.field.length + 2) }];
      if (c.also) causes.push({ reason: c.also[0], field: c.also[1], message: c.also[2].slice(c.also[1].length + 2) });
      assert.deepEqual(status.details?.causes, causes);
    });
  }

  it('lists several errors in brackets', async () => {
    const status = await statusOf(create({ stages: 0, mode: 'X' }, 'multi'));
    // kube-apiserver's order of sibling schema errors varies between requests: compare them as a set.
    const parts = ['spec.stages: Invalid value: 0: spec.stages in body should be greater than or equal to 1', 'spec.mode: Unsupported value: "X": supported values: "Fast", "Slow"'];
    assert.ok([`[${parts[0]}, ${parts[1]}, ${cel}]`, `[${parts[1]}, ${parts[0]}, ${cel}]`].map((t) => `Widget.${group} "multi" is invalid: ${t}`).includes(status.message), status.message);
    assert.equal(status.details?.causes?.length, 3);
  });

  it('evaluates transition rules against oldSelf on update only', async () => {
    await create({ stages: 2, mode: 'Slow' }, 'transition');
    const status = await statusOf(
      h.custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'widgets', name: 'transition', body: { spec: { mode: 'Fast' } } }, patchAs(k8s.PatchStrategy.MergePatch)),
    );
    assert.equal(status.message, `Widget.${group} "transition" is invalid: spec: Invalid value: "object": mode is immutable`);
  });

  it('bumps generation on spec changes only; status writes go through /status', async () => {
    await create({ stages: 2 }, 'gen');
    const labelled = (await h.custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'widgets', name: 'gen', body: { metadata: { labels: { a: 'b' } }, status: { phase: 'Ignored' } } }, patchAs(k8s.PatchStrategy.MergePatch))) as { metadata: { generation: number }; status?: unknown };
    assert.equal(labelled.metadata.generation, 1);
    assert.equal(labelled.status, undefined);
    const changed = (await h.custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'widgets', name: 'gen', body: { spec: { stages: 3 } } }, patchAs(k8s.PatchStrategy.MergePatch))) as { metadata: { generation: number } };
    assert.equal(changed.metadata.generation, 2);
    const withStatus = (await h.custom.patchNamespacedCustomObjectStatus({ group, version: 'v1', namespace: 'default', plural: 'widgets', name: 'gen', body: { spec: { stages: 9 }, status: { phase: 'Running', observedGeneration: 2 } } }, patchAs(k8s.PatchStrategy.MergePatch))) as { metadata: { generation: number }; spec: { stages: number }; status: { phase: string } };
    assert.equal(withStatus.status.phase, 'Running');
    assert.equal(withStatus.spec.stages, 3);
    assert.equal(withStatus.metadata.generation, 2);
    const badStatus = await statusOf(h.custom.patchNamespacedCustomObjectStatus({ group, version: 'v1', namespace: 'default', plural: 'widgets', name: 'gen', body: { status: { observedGeneration: 'x' } } }, patchAs(k8s.PatchStrategy.MergePatch)));
    assert.equal(badStatus.code, 422);
  });

  it('rejects strategic merge patch for custom resources with 415', async () => {
    const status = await statusOf(h.custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'widgets', name: 'gen', body: { spec: { stages: 4 } } }, patchAs(k8s.PatchStrategy.StrategicMergePatch)));
    assert.equal(status.code, 415);
    assert.equal(status.reason, 'UnsupportedMediaType');
    assert.equal(status.message, 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
  });

  it('serves cluster-scoped custom resources', async () => {
    await h.custom.createClusterCustomObject({ group, version: 'v1', plural: 'gadgets', body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { free: { form: 1 } } } });
    const got = (await h.custom.getClusterCustomObject({ group, version: 'v1', plural: 'gadgets', name: 'g1' })) as { spec: unknown };
    assert.deepEqual(got.spec, { free: { form: 1 } });
  });

  it('rejects invalid CRDs and CEL rules that do not compile', async () => {
    const bad = JSON.parse(JSON.stringify(gadgetCrd)) as typeof gadgetCrd;
    bad.metadata.name = 'wrong.test.perseus.energy';
    const status = await postStatus(h, bad);
    assert.equal(status.code, 422);
    assert.match(status.message, /metadata.name: Invalid value: "wrong.test.perseus.energy": must be spec.names.plural\+"."\+spec.group/);
    const cel = JSON.parse(JSON.stringify(gadgetCrd)) as { metadata: { name: string }; spec: { names: { plural: string; kind: string }; versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
    cel.metadata.name = 'bolts.test.perseus.energy';
    cel.spec.names = { plural: 'bolts', kind: 'Bolt' };
    const version = cel.spec.versions[0];
    if (version !== undefined) version.schema.openAPIV3Schema['x-kubernetes-validations'] = [{ rule: 'self.spec. ==' }];
    const celStatus = await postStatus(h, cel);
    assert.equal(celStatus.code, 422);
    assert.match(celStatus.message, /spec\.validation\.openAPIV3Schema\.x-kubernetes-validations\[0\]\.rule: Invalid value: apiextensions\.ValidationRule\{Rule:"self\.spec\. ==", Message:""\}: compilation failed/);
  });

  it('deleting a CRD deletes its objects and stops serving the type', async () => {
    await h.custom.deleteClusterCustomObject({ group, version: 'v1', plural: 'gadgets', name: 'g1' }).catch(() => undefined);
    await h.custom.createClusterCustomObject({ group, version: 'v1', plural: 'gadgets', body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g2' } } });
    await h.ext.deleteCustomResourceDefinition({ name: gadgetCrd.metadata.name });
    await waitForObject(h.kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', gadgetCrd.metadata.name, (type) => type === 'DELETED');
    const status = await statusOf(h.custom.listClusterCustomObject({ group, version: 'v1', plural: 'gadgets' }));
    assert.equal(status.code, 404);
  });
});
