import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { command } from '../../src/cli/plan.ts';
import { captureOutput } from '../support/capture-output.ts';
import { DATA_DIR, loadGoldenFrontier } from './helpers.ts';

/** Runs `perseus plan` in-process, capturing stdout and stderr. */
const runPlan = (argv: string[]): Promise<{ code: number; out: string; err: string }> => captureOutput(() => command.run(argv));

const profile = path.join(DATA_DIR, 'stage_profile', 'gpt3-175b+a100_sxm_bf16.csv');

describe('perseus plan', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'perseus-plan-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the reference frontier CSV and a summary whose savings hold at zero slowdown (lowtime)', async () => {
    const r = await runPlan(['--profile', profile, '--stages', '8', '--microbatches', '12', '--cost-model', 'lowtime', '--unit-time', '1ms', '--blocking-power', '83.64', '--out', dir, '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /All-max baseline\s+true 2\.8365 s 7339\.0 J/);
    const csv = readFileSync(path.join(dir, 'frontier.csv'), 'utf8').trim().split('\n');
    const golden = loadGoldenFrontier('gpt3-175b_bf16_mb12.csv');
    assert.equal(csv[0], 'time,energy');
    assert.equal(csv.length - 1, golden.length);
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    assert.ok(summary.chosen.true.timeSeconds <= summary.baseline.true.timeSeconds + 1e-9);
    assert.ok(summary.savings.trueEnergyRatio >= 0.152, `savings ${summary.savings.trueEnergyRatio}`);
    assert.ok(summary.frontier.worstTrueOverModelSeconds > 0, 'floor quantization makes true times exceed model times');
    const plan = JSON.parse(readFileSync(path.join(dir, 'plan.json'), 'utf8'));
    assert.equal(plan.stages.length, 8);
    assert.equal(plan.stages[0].computations.length, 24);
    assert.match(readFileSync(path.join(dir, 'frontier.svg'), 'utf8'), /^<svg /);
  });

  it('chooses the unit time automatically unless --unit-time gives one', async () => {
    const auto = await runPlan(['--profile', profile, '--microbatches', '12', '--out', dir, '--quiet']);
    assert.equal(auto.code, 0, auto.err);
    assert.match(auto.out, /unit 0\.1 ms \(auto\)/);
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    assert.equal(summary.inputs.options.unitTimeSeconds, 1e-4);
    assert.equal(summary.inputs.unitTime, 'auto');
    assert.ok(summary.savings.trueEnergyRatio >= 0.159, `savings ${summary.savings.trueEnergyRatio}`);
    for (const flag of ['2ms', 'AUTO']) {
      const r = await runPlan(['--profile', profile, '--microbatches', '12', '--unit-time', flag, '--out', dir, '--quiet']);
      assert.equal(r.code, 0, r.err);
      const s = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
      assert.equal(s.inputs.options.unitTimeSeconds, flag === '2ms' ? 0.002 : 1e-4);
      assert.equal(s.inputs.unitTime, flag === '2ms' ? 'flag' : 'auto');
      assert.match(r.out, flag === '2ms' ? /unit 2 ms, blocking/ : /unit 0\.1 ms \(auto\)/);
    }
  });

  it('plans Stage granularity with one clock per stage', async () => {
    const r = await runPlan(['--profile', profile, '--microbatches', '4', '--granularity', 'stage', '--target-slowdown', '0.05', '--out', dir, '--quiet']);
    assert.equal(r.code, 0, r.err);
    const plan = JSON.parse(readFileSync(path.join(dir, 'plan.json'), 'utf8'));
    for (const s of plan.stages) {
      assert.equal(typeof s.frequencyMhz, 'number');
      assert.ok(s.computations.every((c: { frequencyMhz: number }) => c.frequencyMhz === s.frequencyMhz));
    }
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    assert.ok(summary.chosen.true.timeSeconds <= summary.baseline.true.timeSeconds * 1.05 + 1e-9);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--microbatches', '4'], /--profile: required/],
    [['--profile', profile], /--microbatches: required/],
    [['--profile', profile, '--microbatches', 'x'], /--microbatches: expected an integer ≥ 1, got "x"/],
    [['--profile', profile, '--microbatches', '4', '--unit-time', '0ms'], /--unit-time: expected a positive duration/],
    [['--profile', profile, '--microbatches', '4', '--unit-time', 'fine'], /--unit-time: expected a positive duration such as 0\.001, 1ms or 100us, or auto, got "fine"/],
    [['--profile', profile, '--microbatches', '4', '--cost-model', 'magic'], /--cost-model: expected one of lowtime, exact/],
    [['--profile', profile, '--microbatches', '4', '--schedule', 'zigzag'], /--schedule: expected one of 1f1b, gpipe, interleaved-1f1b/],
    [['--profile', profile, '--microbatches', '4', '--stages', '3'], /stages: the pipeline has 3 stages but the profile measures 8/],
    [['--profile', '/nonexistent.csv', '--microbatches', '4'], /--profile: cannot read \/nonexistent\.csv/],
    [['--profile', profile, '--microbatches', '4', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, expected] of bad) {
    it(`rejects ${argv.slice(-2).join(' ')} with exit code 2 and a one-line reason`, async () => {
      const r = await runPlan(argv);
      assert.equal(r.code, 2);
      assert.match(r.err, expected);
    });
  }
});
