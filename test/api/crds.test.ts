// The committed CRDs are exactly what src/api generates, stay small enough for `kubectl apply`, and carry
// what `kubectl get`/`kubectl explain` need; the examples are valid jobs.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { allCrds, renderCrdYaml, trainingJobCrd } from '../../src/api/crds.ts';
import { validateJob } from '../../src/api/index.ts';
import type { OpenApiSchema } from '../../src/api/schema.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function walk(schema: OpenApiSchema, at: string, visit: (s: OpenApiSchema, at: string) => void): void {
  visit(schema, at);
  for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v, `${at}.${k}`, visit);
  if (schema.items !== undefined) walk(schema.items, `${at}[]`, visit);
  if (schema.additionalProperties !== undefined) walk(schema.additionalProperties, `${at}{}`, visit);
}

describe('CRDs', () => {
  for (const { file, crd } of allCrds()) {
    it(`crds/${file} matches the source (run npm run gen:crds)`, () => {
      const committed = readFileSync(path.join(root, 'crds', file), 'utf8');
      assert.equal(committed, renderCrdYaml(crd));
    });

    it(`crds/${file} fits the last-applied annotation of kubectl apply`, () => {
      // kubectl apply stores the object as JSON in an annotation limited to 262144 bytes (with other annotations).
      const json = Buffer.byteLength(JSON.stringify(crd));
      assert.ok(json < 200_000, `CRD JSON is ${json} bytes`);
      assert.ok(Buffer.byteLength(renderCrdYaml(crd)) < 200_000);
    });

    it(`crds/${file} is structural and documented for kubectl explain`, () => {
      const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
      assert.ok(schema !== undefined);
      const undocumented: string[] = [];
      const untyped: string[] = [];
      walk(schema, '', (s, at) => {
        if (s.type === undefined) untyped.push(at);
        if (at.startsWith('.spec') || at.startsWith('.status')) {
          if (s.description === undefined || s.description.length < 5) undocumented.push(at);
        }
      });
      assert.deepEqual(untyped, []);
      assert.deepEqual(undocumented, []);
      assert.deepEqual(crd.spec.versions[0]?.subresources, { status: {} });
    });
  }

  it('the job CRD has the short name, categories and printer columns of kubectl get ptj', () => {
    const crd = trainingJobCrd();
    assert.deepEqual(crd.spec.names['shortNames'], ['ptj']);
    assert.ok((crd.spec.names['categories'] as string[]).includes('perseus'));
    assert.deepEqual(
      crd.spec.versions[0]?.additionalPrinterColumns.filter((c) => c.priority === undefined).map((c) => c.name),
      ['Phase', 'Stages', 'Pipelines', 'Savings', 'Age'],
    );
    const template = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec']?.properties?.['template'];
    assert.equal(template?.properties?.['spec']?.['x-kubernetes-preserve-unknown-fields'], true);
  });

  it('the committed YAML parses back to the generated object', () => {
    for (const { file, crd } of allCrds()) {
      assert.deepEqual(yaml.load(readFileSync(path.join(root, 'crds', file), 'utf8')), JSON.parse(JSON.stringify(crd)));
    }
  });
});

describe('examples', () => {
  const files = readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.yaml'));
  it('has realistic jobs', () => assert.ok(files.length >= 3));
  for (const file of files) {
    it(`examples/${file} is a valid PerseusTrainingJob`, () => {
      const docs = yaml.loadAll(readFileSync(path.join(root, 'examples', file), 'utf8')) as { kind: string; metadata: { name: string }; spec: unknown }[];
      const jobs = docs.filter((d) => d.kind === 'PerseusTrainingJob');
      assert.ok(jobs.length > 0);
      for (const job of jobs) {
        const result = validateJob(job);
        assert.deepEqual(result.ok ? [] : result.issues, []);
      }
    });
  }
});
