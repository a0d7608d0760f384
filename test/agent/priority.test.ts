import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AgentMetrics } from '../../src/agent/metrics.ts';
import { niceError, type NiceOutcome } from '../../src/agent/priority.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const child = fileURLToPath(new URL('./priority-child.ts', import.meta.url));

interface ChildReport {
  readonly pid: number;
  readonly outcome: NiceOutcome;
  readonly threads: { tid: number; nice: number }[];
}

/** Runs the child (optionally under a wrapper such as setpriv) and parses its report. */
function runChild(nice: number, wrapper: string[] = []): ChildReport {
  const argv = [...wrapper, process.execPath, '--import', 'tsx', child, String(nice)];
  const out = execFileSync(argv[0]!, argv.slice(1), { cwd: root, encoding: 'utf8' });
  return JSON.parse(out) as ChildReport;
}

const hasCapSysNice = (): boolean => {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
  return line !== undefined && (BigInt(`0x${line.split(/\s+/)[1]}`) & (1n << 23n)) !== 0n;
};

describe('agent event-loop priority', function () {
  this.timeout(60000);
  before(function () {
    if (!existsSync('/proc/self/task')) this.skip(); // per-thread nice values are read from Linux's /proc
  });

  it('exports the nice value in effect beside the configured one', async function () {
    const metrics = new AgentMetrics('node-a');
    metrics.recordPriority(-10, 0);
    const text = await metrics.registry.metrics();
    assert.match(text, /^perseus_agent_event_loop_nice 0$/m);
    assert.match(text, /^perseus_agent_event_loop_nice_requested -10$/m);
  });

  it('accepts integer nice values in [-20, 19] only', function () {
    for (const ok of [-20, -10, 0, 19]) assert.equal(niceError(ok), undefined);
    for (const bad of [-21, 20, 1.5, Number.NaN]) assert.match(niceError(bad) ?? '', /expected an integer nice value in \[-20, 19\]/);
  });

  it('changes the calling thread only: threads V8 already started keep nice 0', function () {
    const r = runChild(7);
    assert.deepEqual(r.outcome, { applied: true, nice: 7 });
    const main = r.threads.find((t) => t.tid === r.pid);
    assert.equal(main?.nice, 7);
    const others = r.threads.filter((t) => t.tid !== r.pid);
    // Threads started before the call keep nice 0 (a thread started later from the main thread would inherit 7).
    assert.ok(others.some((t) => t.nice === 0), `some helper thread kept nice 0: ${JSON.stringify(others)}`);
  });

  it('lowers the nice value with CAP_SYS_NICE', function () {
    if (!hasCapSysNice()) this.skip(); // this process lacks CAP_SYS_NICE; the next test covers that case
    const r = runChild(-5);
    assert.deepEqual(r.outcome, { applied: true, nice: -5 });
    assert.equal(r.threads.find((t) => t.tid === r.pid)?.nice, -5);
  });

  it('without CAP_SYS_NICE keeps running at nice 0 and says which capability is missing', function () {
    let wrapper: string[] = [];
    if (hasCapSysNice()) {
      // Drop the capability for the child: as root, setpriv removes it from the bounding set before exec.
      if (spawnSync('setpriv', ['--version']).status !== 0) this.skip(); // setpriv (util-linux) is needed to drop CAP_SYS_NICE
      wrapper = ['setpriv', '--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice'];
    }
    const r = runChild(-10, wrapper);
    assert.equal(r.outcome.applied, false);
    assert.equal(r.outcome.nice, 0);
    assert.match(r.outcome.applied ? '' : r.outcome.reason, /needs CAP_SYS_NICE \((EACCES|EPERM)\); grant it to the agent container or set --nice 0/);
    assert.equal(r.threads.find((t) => t.tid === r.pid)?.nice, 0);
  });
});
