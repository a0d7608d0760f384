// Table of invalid jobs: each one is rejected by the CRD schema (structure, bounds, enums, CEL rules,
// including the transition rules of updates) with an issue naming the offending field.
import assert from 'node:assert/strict';
import { validateJob } from '../../src/api/index.ts';

import { cases, validJob, withValue } from './invalid-cases.ts';

describe('invalid PerseusTrainingJobs', () => {
  it('the base job is valid', () => {
    const result = validateJob(validJob());
    assert.deepEqual(result.ok ? [] : result.issues, []);
  });

  it('has at least 30 cases', () => assert.ok(cases.length >= 30));

  for (const c of cases) {
    it(`rejects ${c.name}, naming ${c.field}`, () => {
      const base = validJob();
      let spec = base.spec;
      for (const [at, value] of Object.entries(c.set)) spec = withValue(spec, at, value);
      const job = { metadata: { name: c.metadataName ?? base.metadata.name }, spec };
      const result = c.update === true ? validateJob(job, base) : validateJob(job);
      assert.equal(result.ok, false, 'the job was accepted');
      if (result.ok) return;
      const named = result.issues.some((i) => `${i.path}: ${i.message}`.includes(c.field));
      assert.ok(named, `no issue names ${c.field}: ${JSON.stringify(result.issues)}`);
    });
  }

  it('accepts an update that changes only mutable fields', () => {
    const base = validJob();
    const spec = withValue(withValue(base.spec, 'runPolicy.suspend', true), 'planning.maxSlowdown', 1.1);
    const result = validateJob({ metadata: base.metadata, spec }, base);
    assert.deepEqual(result.ok ? [] : result.issues, []);
  });
});
