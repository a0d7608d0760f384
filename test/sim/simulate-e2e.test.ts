// perseus simulate end to end on the embedded API server: the bundled GPT-3 A100 example (8 stages × 2
// pipelines) is profiled by the real agents, planned by the real controller, trained with a straggler
// injected and removed, and completed; the simulated GPUs' truth checks every step.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { BUNDLED_GPUS, defaultJob } from '../../src/sim/simulate/job.ts';
import { summarizeJob, writeReport } from '../../src/sim/simulate/report.ts';
import { runSimulation, type SimulationResult } from '../../src/sim/simulate/simulation.ts';
import { parseStraggler } from '../../src/cli/simulate.ts';
import { levelAt, overlaps, parseChart } from './svg-chart.ts';

describe('perseus simulate (end to end)', function () {
  this.timeout(300_000);
  let result: SimulationResult;
  const straggler = parseStraggler('pipeline=1,factor=1.2,at=12,until=24');

  before(async () => {
    const profile = unwrap(parseStageProfileCsv(readFileSync(BUNDLED_GPUS['a100']!.csv, 'utf8')));
    result = await runSimulation({
      jobs: [defaultJob({ pipelines: 2, iterations: 48 })],
      nodes: 2,
      gpusPerNode: 8,
      gpuName: 'A100',
      profile,
      blockingPowerWatts: 83.64,
      timeScale: 200,
      iterations: 48,
      straggler,
      timeoutMs: 240_000,
    });
  });

  it('runs the job through profiling, planning and running to completion', () => {
    const job = result.jobs[0]!;
    assert.deepEqual(
      job.phases.map((p) => p.phase),
      ['Pending', 'Profiling', 'Planning', 'Running', 'Succeeded'],
    );
    assert.equal(job.training.length, 48, 'every training iteration finished');
    assert.ok(job.profiling.length >= 9, `profiling ran ${job.profiling.length} iterations`);
  });

  it('measures a profile that matches the simulated GPUs', () => {
    const check = result.jobs[0]!.profileCheck;
    assert.ok(check !== undefined, 'the profile is stored in the job ConfigMap');
    // Round 1: every 120 MHz from 1410, plus 1395 and the lowest clock ≥ 900: 7 clocks × 8 stages × 2
    // instructions; later rounds add the clocks the sketched plans use, never a row twice.
    assert.ok(check.rows > 112, `rows ${check.rows}`);
    const profile = result.jobs[0]!.status?.profile;
    assert.ok((profile?.rounds ?? 0) >= 2, `rounds ${profile?.rounds}`);
    assert.equal(profile?.measurements, check.rows);
    assert.ok((profile?.gpuSeconds ?? 0) > 0 && (profile?.energyJoules ?? 0) > 0 && (profile?.paybackIterations ?? 0) > 0, JSON.stringify(profile));
    assert.ok(check.maxTimeErrorRatio < 0.01, `time error ${check.maxTimeErrorRatio}`);
    assert.ok(check.maxEnergyErrorRatio < 0.01, `energy error ${check.maxEnergyErrorRatio}`);
  });

  it('keeps the all-max iteration time and saves at least 15 % energy', () => {
    const s = summarizeJob(result.jobs[0]!, result);
    assert.ok(s.plan !== undefined && s.plan.iterations >= 20, `steady iterations: ${s.plan?.iterations}`);
    assert.ok(Math.abs(s.slowdownRatio!) <= 0.01, `iteration time ${s.plan.iterationSeconds} vs baseline ${s.baseline.iterationSeconds}`);
    assert.ok(s.savingsRatio! >= 0.15, `savings ${s.savingsRatio}`);
    // Sanity of the baseline itself: 8 stages × 12 micro-batches of GPT-3 on A100 at 1410 MHz.
    assert.ok(Math.abs(s.baseline.iterationSeconds - 2.8365) < 0.001, `baseline ${s.baseline.iterationSeconds}`);
  });

  it('replans for the straggler and undoes it once the straggler recovers', () => {
    const job = result.jobs[0]!;
    const gens = job.generations;
    const detected = gens.find((g) => g.stragglers.includes(1));
    assert.ok(detected !== undefined, `generations: ${JSON.stringify(gens)}`);
    assert.ok(detected.iteration >= straggler.atIteration, 'not before the straggler');
    const last = gens[gens.length - 1]!;
    assert.deepEqual(last.stragglers, [], 'the last plan has no stragglers');
    assert.ok(last.generation > detected.generation && last.iteration >= straggler.untilIteration!, 'undone after the straggler recovered');
    assert.ok((job.status?.replans ?? 0) >= 2);
    assert.deepEqual(job.status?.stragglers ?? [], []);
    // While the straggler ran, the other pipeline moved to a cheaper plan: less energy than both
    // pipelines at the straggler's own plan and no time lost beyond the straggler's.
    const during = job.training.filter((r) => r.iteration > detected.iteration + 1 && r.iteration < straggler.untilIteration!);
    assert.ok(during.length > 0);
    for (const r of during) assert.ok(r.pipelineSeconds[0]! <= r.pipelineSeconds[1]! + 1e-9, `iteration ${r.iteration}: ${r.pipelineSeconds.join(', ')}`);
  });

  it('resets every GPU clock at the end', () => {
    assert.equal(result.clocksResetAtEnd, true, `locked: ${result.lockedClocksAtEnd.join(', ')}`);
  });

  it('writes the report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'perseus-report-'));
    try {
      writeReport(dir, result);
      for (const f of ['report.json', 'summary.md', 'energy.svg', 'iterations.svg']) assert.ok(existsSync(join(dir, f)), f);
      const md = readFileSync(join(dir, 'summary.md'), 'utf8');
      assert.match(md, /All-max baseline \| 2\.8365 s/);
      const energy = parseChart(readFileSync(join(dir, 'energy.svg'), 'utf8'));
      assert.equal(energy.y.label, 'cumulative energy (MJ)');
      assert.equal(energy.y2?.label, 'average power per iteration (kW)');
      assert.ok(energy.lines.has('all-max baseline: cumulative energy (MJ)'));
      assert.deepEqual(
        energy.bands.map((b) => b.label),
        ['Profiling', 'Planning', 'straggler: pipeline 1 ×1.2'],
      );
      assert.equal(energy.markers.length, result.jobs[0]!.generations.length - 1, 'a marker per replan');
      assert.ok(energy.legend !== undefined && !overlaps(energy.legend, energy.plot));
      // The training power drawn is every iteration's energy over its time.
      const power = energy.lines.get('training: power / iteration (kW)')!;
      for (const r of result.jobs[0]!.training) {
        const y = levelAt(power, energy.x.pixel((r.startSeconds + r.endSeconds) / 2));
        assert.ok(y !== undefined && Math.abs(energy.y2!.value(y) - r.energyJoules / (r.endSeconds - r.startSeconds) / 1000) < 0.02, `iteration ${r.iteration}`);
      }
      const iterations = parseChart(readFileSync(join(dir, 'iterations.svg'), 'utf8'));
      assert.ok(iterations.lines.has('all-max baseline (J)') && iterations.legend !== undefined && !overlaps(iterations.legend, iterations.plot));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
