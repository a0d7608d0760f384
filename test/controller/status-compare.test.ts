// The job status is written only when a value changed: kube-apiserver returns object keys sorted, so the
// same status in another key order is no change (before, every reconcile wrote it again).
import assert from 'node:assert/strict';
import type { JobStatus } from '../../src/api/index.ts';
import { mergeDiff } from '../../src/controller/apply-decision.ts';
import { statusChanged } from '../../src/controller/decide.ts';
import { jsonEqual } from '../../src/controller/json-equal.ts';

describe('status comparison', () => {
  const built = { phase: 'Running', observedGeneration: 1, conditions: [{ type: 'Planned', status: 'True', reason: 'Planned', message: 'm', lastTransitionTime: 't' }], plan: { generation: 1, savings: '9.0%' } } as unknown as JobStatus;
  const served = { conditions: [{ lastTransitionTime: 't', message: 'm', reason: 'Planned', status: 'True', type: 'Planned' }], observedGeneration: 1, phase: 'Running', plan: { savings: '9.0%', generation: 1 } } as unknown as JobStatus;

  it('sees no change in a status whose keys come back in another order', () => {
    assert.equal(statusChanged(served, built), false);
    assert.deepEqual(mergeDiff(served, built), {});
  });

  it('sees every changed, added or removed value', () => {
    assert.equal(statusChanged(served, { ...built, phase: 'Succeeded' }), true);
    assert.equal(statusChanged(served, { ...built, plan: { generation: 2, savings: '9.0%' } } as unknown as JobStatus), true);
    assert.equal(statusChanged(served, { ...built, startTime: 'now' } as unknown as JobStatus), true);
    const { plan: _p, ...withoutPlan } = built as unknown as Record<string, unknown>;
    assert.equal(statusChanged(served, withoutPlan as unknown as JobStatus), true);
    assert.deepEqual(mergeDiff(served, withoutPlan), { plan: null });
    assert.equal(statusChanged(undefined, built), true);
  });

  it('compares JSON values deeply, lists in order, undefined keys as absent', () => {
    assert.equal(jsonEqual({ a: [1, { b: 2, c: 3 }] }, { a: [1, { c: 3, b: 2 }] }), true);
    assert.equal(jsonEqual([1, 2], [2, 1]), false);
    assert.equal(jsonEqual({ a: 1, b: undefined }, { a: 1 }), true);
    assert.equal(jsonEqual({ a: 1 }, { a: 1, b: 2 }), false);
    assert.equal(jsonEqual({ a: [] }, { a: {} }), false);
    assert.equal(jsonEqual(null, {}), false);
    assert.equal(jsonEqual('1', 1), false);
  });
});
