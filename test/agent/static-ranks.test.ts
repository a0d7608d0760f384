import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStaticRanks } from '../../src/agent/static-ranks.ts';
import { command } from '../../src/cli/agent.ts';
import { captureOutput } from '../support/capture-output.ts';

const TOKEN = 'a'.repeat(64);
const runRank = {
  namespace: 'ml',
  name: 'job-p0-s0',
  job: 'job',
  pipeline: 0,
  stage: 0,
  podName: 'job-worker-0',
  mode: 'Run',
  tokenSha256: TOKEN,
  plan: { generation: 1, granularity: 'Instruction', stagePlan: { stage: 0, computations: [{ instruction: 'forward', microbatch: 0, chunk: 0, frequencyMhz: 1410 }] } },
};
const profileRank = {
  ...runRank,
  name: 'job-p0-s1',
  stage: 1,
  mode: 'Profile',
  plan: undefined,
  profiling: { warmupIterations: 2, iterationsPerClock: 3, clockStrideMhz: 30, earlyStop: true },
};

/** Runs `perseus agent` in-process; flag errors return before anything starts. */
const runAgent = (argv: string[]): Promise<{ code: number; err: string }> => captureOutput(() => command.run(argv));

describe('agent static rank file (--ranks)', function () {
  it('accepts Run and Profile ranks', function () {
    const r = parseStaticRanks(JSON.stringify([runRank, profileRank]));
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(
      r.value.map((s) => [s.name, s.mode]),
      [
        ['job-p0-s0', 'Run'],
        ['job-p0-s1', 'Profile'],
      ],
    );
    assert.equal(r.value[0]!.plan?.stagePlan.computations[0]?.frequencyMhz, 1410);
  });

  const cases: [string, unknown, string, RegExp][] = [
    ['not JSON', undefined, 'ranks', /expected a JSON array of rank specs/],
    ['an object, not a list', { ranks: [] }, 'ranks', /must be a list/],
    ['a name that is a number', [{ ...runRank, name: 3 }], 'ranks[0].name', /must be a string, got 3/],
    ['a missing pod', [{ ...runRank, podName: undefined }], 'ranks[0].podName', /is required/],
    ['an unknown mode', [{ ...runRank, mode: 'Fast' }], 'ranks[0].mode', /must be one of Profile, Run, Idle/],
    ['a token that is not a SHA-256', [{ ...runRank, tokenSha256: 'secret' }], 'ranks[0].tokenSha256', /must match/],
    ['Run without a plan', [{ ...runRank, plan: undefined }], 'ranks[0]', /plan is required in Run mode/],
    ['Profile without a sweep', [{ ...profileRank, profiling: undefined }], 'ranks[0]', /profiling is required in Profile mode/],
    ['a negative clock', [{ ...runRank, plan: { ...runRank.plan, stagePlan: { stage: 0, computations: [{ instruction: 'forward', microbatch: 0, chunk: 0, frequencyMhz: -5 }] } } }], 'ranks[0].plan.stagePlan.computations[0].frequencyMhz', /must be ≥ 1, got -5/],
    ['a misspelt field', [{ ...runRank, podname: 'x' }], 'ranks[0].podname', /is not a known field/],
    ['the same rank twice', [runRank, runRank], 'ranks[1].name', /duplicate rank ml\/job-p0-s0/],
  ];
  for (const [what, value, path, message] of cases) {
    it(`rejects ${what}, naming ${path}`, function () {
      const r = parseStaticRanks(value === undefined ? '' : JSON.stringify(value));
      assert.equal(r.ok, false);
      const issue = r.ok ? undefined : r.issues.find((i) => i.path === path);
      assert.ok(issue, JSON.stringify(r));
      assert.match(issue.message, message);
    });
  }

  it('perseus agent exits 2 with the field named before touching any GPU, and 1 with one line on a runtime failure', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'ranks-'));
    try {
      const file = join(dir, 'ranks.json');
      writeFileSync(file, JSON.stringify([{ ...runRank, pipeline: -1 }]));
      const bad = await runAgent(['--ranks', file, '--nvml-library', join(dir, 'missing.so')]);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /--ranks .*ranks\.json: ranks\[0\]\.pipeline: must be ≥ 0, got -1/);
      // A runtime failure (no NVML library) is one line and exit code 1, not a stack trace.
      writeFileSync(file, JSON.stringify([runRank]));
      const noNvml = await runAgent(['--ranks', file, '--nvml-library', join(dir, 'missing.so'), '--metrics-port', '0']);
      assert.equal(noNvml.code, 1);
      assert.match(noNvml.err, /^perseus agent: dlopen failed: NVML_ERROR_LIBRARY_NOT_FOUND \(12\): cannot load .*missing\.so/);
      assert.equal(noNvml.err.trim().split('\n').length, 1);
      const missing = await runAgent(['--ranks', join(dir, 'absent.json')]);
      assert.equal(missing.code, 2);
      assert.match(missing.err, /--ranks: cannot read .*absent\.json/);
      for (const nice of ['--nice=25', '--nice=-1.5', '--nice=low']) {
        const r = await runAgent([nice]);
        assert.equal(r.code, 2);
        assert.match(r.err, /--nice: expected an integer in \[-20, 19\], got "/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
