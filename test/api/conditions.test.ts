// Condition transitions shared by the controller and the node agent.
import assert from 'node:assert/strict';
import { setCondition, transitionCondition } from '../../src/api/conditions.ts';

describe('condition transitions', () => {
  const old = [{ type: 'Profiled', status: 'False' as const, reason: 'InProgress', message: 'Swept 1 of 4 clocks', lastTransitionTime: '2024-05-01T12:00:00Z' }];

  it('keeps lastTransitionTime while the status is unchanged and moves it when the status changes', () => {
    const same = transitionCondition(old, { type: 'Profiled', status: 'False', reason: 'InProgress', message: 'Swept 2 of 4 clocks' }, '2024-05-01T12:05:00Z');
    assert.equal(same.lastTransitionTime, '2024-05-01T12:00:00Z');
    assert.equal(same.message, 'Swept 2 of 4 clocks');
    const changed = transitionCondition(old, { type: 'Profiled', status: 'True', reason: 'SweepComplete', message: 'Measured 8 rows' }, '2024-05-01T12:05:00Z');
    assert.equal(changed.lastTransitionTime, '2024-05-01T12:05:00Z');
    const fresh = transitionCondition(old, { type: 'PlanApplied', status: 'False', reason: 'Profile', message: 'The rank is in Profile mode' }, '2024-05-01T12:05:00Z');
    assert.equal(fresh.lastTransitionTime, '2024-05-01T12:05:00Z');
  });

  it('setCondition replaces the condition of its type, keeps one per type and sorts by type', () => {
    const next = setCondition(old, 'Planned', 'True', 'FrontierReady', 'Planned', '2024-05-01T12:05:00Z', 3);
    assert.deepEqual(next.map((c) => c.type), ['Planned', 'Profiled']);
    assert.equal(next[0]!.observedGeneration, 3);
    const again = setCondition(next, 'Profiled', 'False', 'InProgress', 'Swept 3 of 4 clocks', '2024-05-01T12:06:00Z', 3);
    assert.equal(again.length, 2);
    assert.equal(again[1]!.lastTransitionTime, '2024-05-01T12:00:00Z');
    assert.equal(again[1]!.message, 'Swept 3 of 4 clocks');
  });
});
