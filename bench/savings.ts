// npm run bench:savings — the paper's emulation on the bundled profiles (8 stages, 1F1B): intrinsic savings
// at zero slowdown, and total savings with 16 pipelines and one straggler, beside the paper and EnvPipe.
// Every energy here is TRUE (measured time/energy of the planned clocks plus blocking power), never the
// planner's model.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envPipePlan } from '../src/planner/baselines/envpipe.ts';
import { allMaxPlan, choosePlan, evaluatePlan, parseStageProfileCsv, solveFrontier, unwrap } from '../src/planner/index.ts';
import { runSystem } from './savings-system.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const PIPELINES = 16;
const FACTORS = [1.05, 1.1, 1.2, 1.5];
const MICROBATCHES = [12, 24, 48, 96];
// The paper's reported savings (Perseus, SOSP '24): intrinsic at 12/24/48/96 micro-batches, and total
// with a 1.2× straggler at 96 micro-batches.
const PAPER_INTRINSIC: Record<string, number[]> = { 'gpt3-175b+a100_sxm': [15.2, 14.2, 13.6, 13.3], 'bloom+a100_sxm': [10.5, 7.1, 5.2, 4.3] };
const PAPER_STRAGGLER_96_12: Record<string, number> = { 'gpt3-175b+a100_sxm': 27.0, 'bloom+a100_sxm': 29.9, 'gpt3-175b+a40': 23.6, 'bloom+a40': 21.1 };

const workloads = [
  { model: 'gpt3-175b', gpu: 'a100_sxm', power: 83.64 },
  { model: 'bloom', gpu: 'a100_sxm', power: 83.64 },
  { model: 'gpt3-175b', gpu: 'a40', power: 70.38 },
  { model: 'bloom', gpu: 'a40', power: 70.38 },
];
const unit = Number(process.env.PERSEUS_BENCH_UNIT ?? 0.001);
// `--system` (or PERSEUS_BENCH_SYSTEM=1) also measures the 12 and 24 micro-batch cells by running the system.
const system = process.argv.includes('--system') || process.env.PERSEUS_BENCH_SYSTEM === '1';
const SYSTEM_MICROBATCHES = [12, 24];
const SYSTEM_ITERATIONS = 40;
const SYSTEM_TIME_SCALE = 200;

const header = ['workload', 'mb', 'intrinsic %', ...(system ? ['system %', 'system slowdown %'] : []), 'paper %', 'EnvPipe %', ...FACTORS.map((f) => `T′/T=${f} %`), 'paper @1.2 %'];
const rows: string[][] = [header];
for (const w of workloads) {
  const key = `${w.model}+${w.gpu}`;
  const profile = unwrap(parseStageProfileCsv(readFileSync(path.join(root, 'data/perseus-profiles/stage_profile', `${key}_bf16.csv`), 'utf8')));
  for (const [mbIndex, mb] of MICROBATCHES.entries()) {
    const pipeline = { stages: 8, microbatches: mb, schedule: '1F1B' as const };
    const baseline = evaluatePlan(allMaxPlan(profile, pipeline), profile, pipeline, w.power);
    const frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: unit, blockingPowerWatts: w.power, costModel: 'exact', granularity: 'Instruction' });
    const intrinsic = evaluatePlan(choosePlan(frontier, baseline.timeSeconds).plan, profile, pipeline, w.power);
    const envpipe = envPipePlan(profile, pipeline, w.power).truth;
    const pct = (e: number, base: number): string => ((1 - e / base) * 100).toFixed(1);
    const stragglerCells = FACTORS.map((factor) => {
      // The straggler runs at all-max clocks but `factor` slower; everyone waits for it at the gradient sync.
      const slowTime = baseline.timeSeconds * factor;
      const strag = baseline.energyJoules * factor; // a throttled GPU draws roughly its power for longer
      const waitBase = baseline.energyJoules + w.power * pipeline.stages * (slowTime - baseline.timeSeconds);
      const plan = evaluatePlan(choosePlan(frontier, slowTime).plan, profile, pipeline, w.power);
      const waitPlan = plan.energyJoules + w.power * pipeline.stages * (slowTime - plan.timeSeconds);
      const before = strag + (PIPELINES - 1) * waitBase;
      const after = strag + (PIPELINES - 1) * waitPlan;
      return pct(after, before);
    });
    const measured = system && SYSTEM_MICROBATCHES.includes(mb) ? await runSystem({ profile, blockingPowerWatts: w.power, gpuName: `${key} (simulated)`, microbatches: mb, pipelines: 2, iterations: SYSTEM_ITERATIONS, timeScale: SYSTEM_TIME_SCALE }) : undefined;
    const fmt = (x: number | undefined): string => (x === undefined ? '–' : x.toFixed(2));
    rows.push([
      key,
      String(mb),
      pct(intrinsic.energyJoules, baseline.energyJoules),
      ...(system ? [fmt(measured?.savingsPercent), fmt(measured?.slowdownPercent)] : []),
      PAPER_INTRINSIC[key]?.[mbIndex]?.toFixed(1) ?? '–',
      pct(envpipe.energyJoules, baseline.energyJoules),
      ...stragglerCells,
      mb === 96 ? (PAPER_STRAGGLER_96_12[key]?.toFixed(1) ?? '–') : '',
    ]);
    process.stderr.write(`| ${rows[rows.length - 1]!.join(' | ')} |\n`);
    process.stderr.write(`done ${key} ${mb}${measured === undefined ? '' : ` (system run ${measured.wallSeconds.toFixed(0)} s wall, profiling ${fmt(measured.profilingGpuSeconds)} GPU-s)`}\n`);
  }
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [k, r] of rows.entries()) {
  process.stdout.write(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |\n`);
  if (k === 0) process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
}
process.stdout.write(`\nUnit time ${unit * 1000} ms, exact cost model; ${PIPELINES} pipelines, one straggler; savings against all-max clocks at equal or lower true time.\n`);
if (system) {
  process.stdout.write(
    `system %: perseus simulate of the example job (8 stages × 2 pipelines, default profiling rounds, GPU clocks 900 MHz and up, automatic unit time), ${SYSTEM_ITERATIONS} iterations at ${SYSTEM_TIME_SCALE}×, measured on the simulated GPUs.\n`,
  );
  await stragglerBySystem();
}

/** One straggler cell by running the system: GPT-3 on A100, 16 pipelines, pipeline 1 slowed 1.2×. */
async function stragglerBySystem(): Promise<void> {
  const w = workloads[0]!;
  const key = `${w.model}+${w.gpu}`;
  const profile = unwrap(parseStageProfileCsv(readFileSync(path.join(root, 'data/perseus-profiles/stage_profile', `${key}_bf16.csv`), 'utf8')));
  const factor = 1.2;
  const pipeline = { stages: 8, microbatches: 12, schedule: '1F1B' as const };
  const baseline = evaluatePlan(allMaxPlan(profile, pipeline), profile, pipeline, w.power);
  const slowTime = baseline.timeSeconds * factor;
  const waitBase = baseline.energyJoules + w.power * pipeline.stages * (slowTime - baseline.timeSeconds);
  const before = baseline.energyJoules * factor + (PIPELINES - 1) * waitBase;
  // The planner's cell for the same case (true profile): the other pipelines at the frontier point for T′.
  const frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: unit, blockingPowerWatts: w.power, costModel: 'exact', granularity: 'Instruction' });
  const planned = evaluatePlan(choosePlan(frontier, slowTime).plan, profile, pipeline, w.power);
  const plannerAfter = baseline.energyJoules * factor + (PIPELINES - 1) * (planned.energyJoules + w.power * pipeline.stages * (slowTime - planned.timeSeconds));
  const run = await runSystem({ profile, blockingPowerWatts: w.power, gpuName: `${key} (simulated)`, microbatches: 12, pipelines: PIPELINES, iterations: 40, timeScale: 50, straggler: { factor, atIteration: 10 } });
  const after = run.stragglerIterationEnergyJoules;
  process.stdout.write(
    `straggler ${key}, 12 micro-batches, ${PIPELINES} pipelines, pipeline 1 ×${factor} from iteration 10 — planner on the true profile ${((1 - plannerAfter / before) * 100).toFixed(1)} %, system ${after === undefined ? 'n/a' : `${((1 - after / before) * 100).toFixed(1)} %`} (per iteration: all-max with the straggler ${before.toFixed(0)} J as modelled above, planner ${plannerAfter.toFixed(0)} J, measured by the system ${after?.toFixed(0) ?? 'n/a'} J; ${run.wallSeconds.toFixed(0)} s wall)\n`,
  );
}
