// npm run bench:planner — per pipeline, the automatic unit time, true savings at zero slowdown, the frontier
// solve time (wall and CPU) and peak memory in this process, and the whole `perseus plan` process timed
// from outside (TypeScript sources through tsx, and the compiled dist/ when `npm run build` has made one);
// its CPU time too where /usr/bin/time exists. On a shared machine the CPU times are the steadier figure.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CostModel } from '../src/api/planner-types.ts';
import { allMaxPlan, autoUnitTimeSeconds, choosePlan, evaluatePlan, parseStageProfileCsv, solveFrontier, unwrap } from '../src/planner/index.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const cases: Array<{ profile: string; mb: number; power: number; costModel: CostModel }> = [
  ...[12, 24, 96].map((mb) => ({ profile: 'gpt3-175b+a100_sxm_bf16', mb, power: 83.64, costModel: 'exact' as const })),
  { profile: 'gpt3-175b+a100_sxm_bf16', mb: 96, power: 83.64, costModel: 'lowtime' },
  { profile: 'bloom+a100_sxm_bf16', mb: 12, power: 83.64, costModel: 'exact' },
  { profile: 'gpt3-175b+a40_bf16', mb: 256, power: 70.38, costModel: 'exact' },
];
const compiled = existsSync(path.join(root, 'dist', 'cli', 'main.js'));
const runs = Number(process.env.BENCH_RUNS ?? 3);

const timeTool = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

function range(values: readonly number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo.toFixed(2) === hi.toFixed(2) ? lo.toFixed(2) : `${lo.toFixed(2)}–${hi.toFixed(2)}`;
}

/** `perseus plan` as a child process, `runs` times: wall-clock seconds (and CPU seconds) as fastest–slowest. */
function wholeProcess(file: string, mb: number, power: number, costModel: CostModel, env: NodeJS.ProcessEnv): string {
  const walls: number[] = [];
  const cpus: number[] = [];
  const argv = [process.execPath, path.join(root, 'bin', 'perseus.js'), 'plan', '--profile', file, '--stages', '8', '--microbatches', String(mb), '--blocking-power', String(power), '--cost-model', costModel, '--quiet'];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const command = timeTool === undefined ? argv : [timeTool, '-f', 'cpu %U %S', ...argv];
    const child = spawnSync(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    walls.push((performance.now() - t0) / 1000);
    if (child.status !== 0) throw new Error(`perseus plan failed (${child.status}): ${String(child.stderr)}`);
    const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(String(child.stderr));
    if (cpu !== null) cpus.push(Number(cpu[1]) + Number(cpu[2]));
  }
  return cpus.length === walls.length ? `${range(walls)} (cpu ${range(cpus)})` : range(walls);
}

const rows: string[][] = [['profile', 'stages×mb', 'model', 'unit (auto)', 'points', 'savings @0 %', 'solve s (cpu)', 'heap peak MiB', 'process s (tsx)', 'process s (dist)']];
for (const c of cases) {
  const file = path.join(root, 'data/perseus-profiles/stage_profile', `${c.profile}.csv`);
  const profile = unwrap(parseStageProfileCsv(readFileSync(file, 'utf8')));
  const pipeline = { stages: 8, microbatches: c.mb, schedule: '1F1B' as const };
  const baseline = evaluatePlan(allMaxPlan(profile, pipeline), profile, pipeline, c.power);
  const unit = autoUnitTimeSeconds(profile, pipeline, { blockingPowerWatts: c.power, costModel: c.costModel });
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  let peak = heap0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const frontier = solveFrontier(profile, pipeline, { unitTimeSeconds: unit, blockingPowerWatts: c.power, costModel: c.costModel, granularity: 'Instruction' }, () => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  const truth = evaluatePlan(choosePlan(frontier, baseline.timeSeconds).plan, profile, pipeline, c.power);
  process.stderr.write(`solved ${c.profile} 8×${c.mb} ${c.costModel} at ${unit * 1000} ms in ${seconds.toFixed(2)} s; timing the process\n`);
  rows.push([
    c.profile,
    `8×${c.mb}`,
    c.costModel,
    `${Number((unit * 1000).toPrecision(6))} ms`,
    String(frontier.points.length),
    `${((1 - truth.energyJoules / baseline.energyJoules) * 100).toFixed(2)} %`,
    `${seconds.toFixed(2)} (${((cpu.user + cpu.system) / 1e6).toFixed(2)})`,
    ((peak - heap0) / 2 ** 20).toFixed(1),
    wholeProcess(file, c.mb, c.power, c.costModel, { PERSEUS_COMPILED: '0' }),
    compiled ? wholeProcess(file, c.mb, c.power, c.costModel, { PERSEUS_COMPILED: '1' }) : 'no dist/',
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [k, r] of rows.entries()) {
  process.stdout.write(`| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |\n`);
  if (k === 0) process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
}
process.stdout.write(`\nprocess s: ${runs} runs of bin/perseus.js plan, fastest–slowest wall clock (CPU user+system); BENCH_RUNS sets how many.\n`);
