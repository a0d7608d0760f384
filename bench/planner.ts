// npm run bench:planner — frontier solve time, peak memory and true savings at zero slowdown.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CostModel } from '../src/api/planner-types.ts';
import { allMaxPlan, choosePlan, evaluatePlan, parseStageProfileCsv, solveFrontier, unwrap } from '../src/planner/index.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const cases = [
  ...[12, 24, 32, 48, 96].map((mb) => ({ profile: 'gpt3-175b+a100_sxm_bf16', mb, unit: 0.001, power: 83.64 })),
  { profile: 'gpt3-175b+a40_bf16', mb: 12, unit: 0.0001, power: 70.38 },
  { profile: 'gpt3-175b+a40_bf16', mb: 256, unit: 0.001, power: 70.38 },
];
const models: CostModel[] = ['lowtime', 'exact'];
const rows: string[][] = [['profile', 'stages×mb', 'unit', 'model', 'points', 'solve s', 'heap peak MiB', 'rss MiB', 'savings @0 %', 'true time / base']];
for (const c of cases) {
  const profile = unwrap(parseStageProfileCsv(readFileSync(path.join(root, 'data/perseus-profiles/stage_profile', `${c.profile}.csv`), 'utf8')));
  const pipeline = { stages: 8, microbatches: c.mb, schedule: '1F1B' as const };
  const baseline = evaluatePlan(allMaxPlan(profile, pipeline), profile, pipeline, c.power);
  for (const costModel of models) {
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    let peak = heap0;
    const t0 = performance.now();
    const frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: c.unit, blockingPowerWatts: c.power, costModel, granularity: 'Instruction' }, () => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    });
    const seconds = (performance.now() - t0) / 1000;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    const chosen = choosePlan(frontier, baseline.timeSeconds);
    const truth = evaluatePlan(chosen.plan, profile, pipeline, c.power);
    rows.push([
      c.profile,
      `8×${c.mb}`,
      `${c.unit * 1000} ms`,
      costModel,
      String(frontier.points.length),
      seconds.toFixed(2),
      ((peak - heap0) / 2 ** 20).toFixed(1),
      (process.memoryUsage().rss / 2 ** 20).toFixed(0),
      ((1 - truth.energyJoules / baseline.energyJoules) * 100).toFixed(2),
      (truth.timeSeconds / baseline.timeSeconds).toFixed(4),
    ]);
    process.stderr.write(`done ${c.profile} 8×${c.mb} ${costModel} in ${seconds.toFixed(2)} s\n`);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [k, r] of rows.entries()) {
  process.stdout.write(`| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |\n`);
  if (k === 0) process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
}
