// Node readiness as the controller reads it for gang restarts, and the --node-lost-grace flag.
import assert from 'node:assert/strict';
import { nodeLostGraceMs } from '../../src/cli/controller.ts';
import { FlagError } from '../../src/cli/flags.ts';
import { nodeInfo } from '../../src/controller/nodes.ts';

const node = (conditions: unknown[]) => ({ metadata: { name: 'gpu-1' }, status: { conditions } });

describe('node readiness', () => {
  it('is ready only with Ready=True, and dates NotReady and Unknown from the last transition', () => {
    assert.deepEqual(nodeInfo(node([{ type: 'Ready', status: 'True', lastTransitionTime: '2025-03-01T00:00:00Z' }])), { ready: true, sinceMs: Date.parse('2025-03-01T00:00:00Z') });
    assert.deepEqual(nodeInfo(node([{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'Unknown', lastTransitionTime: '2025-03-01T00:05:00Z' }])), {
      ready: false,
      sinceMs: Date.parse('2025-03-01T00:05:00Z'),
    });
    assert.deepEqual(nodeInfo(node([{ type: 'Ready', status: 'False' }])), { ready: false, sinceMs: undefined });
    assert.deepEqual(nodeInfo({ metadata: { name: 'new' } }), { ready: false, sinceMs: undefined });
  });

  it('--node-lost-grace takes a duration or 0, defaults to 5 minutes, and names itself on bad input', () => {
    assert.equal(nodeLostGraceMs(undefined), 300_000);
    assert.equal(nodeLostGraceMs('90s'), 90_000);
    assert.equal(nodeLostGraceMs('2m'), 120_000);
    assert.equal(nodeLostGraceMs('0'), 0);
    assert.throws(() => nodeLostGraceMs('soon'), (err: unknown) => err instanceof FlagError && /--node-lost-grace: expected a duration such as 5m, 300s or 0/.test(err.message));
    assert.throws(() => nodeLostGraceMs('-5m'), FlagError);
  });
});
