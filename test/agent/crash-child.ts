// Child process of agent.test.ts: an agent on the fake NVML with a locked clock and the crash handlers of
// `perseus agent`, which then dies of an uncaught exception or an unhandled rejection (argv[2]).
import { resetClocksOnCrash } from '../../src/agent/crash-reset.ts';
import { createHarness, rankSpec } from './harness.ts';

const h = createHarness();
h.pods.set('team/job-worker-1', ['GPU-fake-0001']);
h.agent.start();
await h.agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1290 } } }));
const line = (message: string, fields?: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ message, ...fields })}\n`);
resetClocksOnCrash(h.agent, { debug: line, info: line, warn: line, error: line });
process.stdout.write(`LOG ${h.fake.logPath}\n`);
const how = process.argv[2];
setTimeout(() => {
  if (how === 'rejection') void Promise.reject(new Error('boom (rejection)'));
  else throw new Error('boom (exception)');
}, 10);
