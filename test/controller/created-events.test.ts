import { strict as assert } from 'node:assert';
import { createdMessage } from '../../src/controller/apply-decision.ts';

describe('Created events', () => {
  it('name one object as before, and list several in numeric order', () => {
    assert.equal(createdMessage('Pod', ['gpt-p0-s0']), 'Created Pod gpt-p0-s0');
    assert.equal(createdMessage('Pod', ['gpt-p0-s10', 'gpt-p0-s2', 'gpt-p0-s1']), 'Created 3 Pods: gpt-p0-s1, gpt-p0-s2, gpt-p0-s10');
  });

  it('stay within an event message and say how many were left out', () => {
    const names = Array.from({ length: 400 }, (_, i) => `a-rather-long-job-name-p${i}-s0`);
    const message = createdMessage('PerseusRank', names);
    assert.ok(message.length <= 1024, `${message.length} characters`);
    const m = /^Created 400 PerseusRanks: (.*) \(and (\d+) more\)$/.exec(message);
    assert.ok(m, message);
    const listed = (m[1] ?? '').split(', ');
    assert.equal(listed.length + Number(m[2]), 400);
    assert.deepEqual(listed.slice(0, 3), ['a-rather-long-job-name-p0-s0', 'a-rather-long-job-name-p1-s0', 'a-rather-long-job-name-p2-s0']);
  });
});
