// The node agent across a gang restart: the rank moves to a new attempt (Idle without a token while the old
// pods go, then Run with the new pod's token). The old pod's connection is closed, its clocks are reset,
// its late hello and reports are refused, and the new attempt's status starts from no iterations.
import assert from 'node:assert/strict';
import { rankStatusPatch } from '../../src/agent/rank-status.ts';
import { fakeNvmlUnavailable } from '../nvml/fake-nvml.ts';
import { createHarness, flush, rankSpec, sha256, type Harness } from './harness.ts';

const GPU1 = 'GPU-fake-0001';
const plan = { generation: 2, granularity: 'Instruction' as const, stagePlan: { stage: 1, computations: [{ instruction: 'forward' as const, microbatch: 0, chunk: 0, frequencyMhz: 1290 }] } };

describe('node agent: gang restart attempts', function () {
  let h: Harness;
  before(function () {
    const why = fakeNvmlUnavailable();
    if (why !== undefined) {
      console.warn(`Skipping agent tests: ${why}`);
      this.skip();
    }
  });
  afterEach(() => h?.close());

  async function hello(token: string): Promise<ReturnType<Harness['connect']> & { send: (m: object) => void }> {
    const c = h.connect();
    const send = (m: object): void => c.session.handleLine(JSON.stringify(m));
    send({ type: 'hello', v: 1, namespace: 'team', rank: 'job-p0-s1', pod: 'job-worker-1', token });
    await flush();
    return { ...c, send };
  }

  it('shuts the old pod out, resets its clocks and forgets its iterations; the new attempt binds with its own token', async () => {
    h = createHarness();
    h.pods.set('team/job-worker-1', [GPU1]);
    h.agent.start();
    await h.agent.upsertRank(rankSpec({ plan, attempt: 0 }));
    const old = await hello('secret-1');
    assert.equal(old.replies[0]?.type, 'hello');
    old.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal(h.fake.lockedClockMhz(1), 1290);
    old.send({ type: 'step_end', iterationSeconds: 0.5 });
    old.send({ type: 'step_end', iterationSeconds: 0.5 });
    const key = { namespace: 'team', name: 'job-p0-s1' };
    assert.equal(h.agent.rankStatus(key)?.recentIterationSeconds.length, 2);

    // Tear-down: the controller idles the rank under attempt 1 and withdraws the token.
    await h.agent.upsertRank(rankSpec({ plan, attempt: 1, mode: 'Idle', tokenSha256: '' }));
    assert.equal(old.closed(), true, 'the old connection is closed');
    assert.equal(h.fake.lockedClockMhz(1), 0, 'clocks reset between the attempts');
    assert.deepEqual(h.agent.rankStatus(key)?.recentIterationSeconds, [], 'the old iterations are forgotten');
    old.send({ type: 'step_end', iterationSeconds: 9 });
    assert.deepEqual(h.agent.rankStatus(key)?.recentIterationSeconds, [], 'a late report of the old pod is ignored');
    const late = await hello('secret-1');
    assert.equal(late.replies[0]?.type, 'error');
    assert.equal((late.replies[0] as { code?: string }).code, 'Unauthorized');

    // Recreated: the new pod's token, Run mode again with the same plan.
    const spec = rankSpec({ plan, attempt: 1, tokenSha256: sha256('secret-2') });
    await h.agent.upsertRank(spec);
    const stale = await hello('secret-1');
    assert.equal((stale.replies[0] as { code?: string }).code, 'Unauthorized', 'the old token stays refused');
    const fresh = await hello('secret-2');
    assert.equal(fresh.replies[0]?.type, 'hello');
    fresh.send({ type: 'begin', instruction: 'forward', microbatch: 0 });
    assert.equal(h.fake.lockedClockMhz(1), 1290, 'the plan is enforced again');
    fresh.send({ type: 'step_end', iterationSeconds: 0.4 });
    const status = h.agent.rankStatus(key);
    assert.deepEqual(status?.recentIterationSeconds, [0.4]);
    assert.equal(rankStatusPatch(status!, spec, Date.now())['attempt'], 1, 'status names the attempt it reports on');
  });
});
