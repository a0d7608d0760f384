// The simulation report: per job the timeline of phases, the all-max baseline next to the Perseus plan as
// measured on the simulated GPUs, straggler periods and replans, and energy over time — as JSON, a Markdown
// summary and SVG charts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IterationRecord } from './fabric.ts';
import { renderEnergyChart, renderIterationsChart } from './report-charts.ts';
import type { JobResult, SimulationResult } from './simulation.ts';

export interface MeasuredRun {
  readonly iterations: number;
  readonly iterationSeconds: number;
  readonly iterationEnergyJoules: number;
}

export interface JobSummary {
  readonly job: string;
  readonly phase: string;
  readonly baseline: { readonly iterationSeconds: number; readonly iterationEnergyJoules: number };
  /** Training iterations outside the injected straggler period and its replan transients. */
  readonly plan: MeasuredRun | undefined;
  /** plan time / baseline time − 1. */
  readonly slowdownRatio: number | undefined;
  /** 1 − plan energy / baseline energy. */
  readonly savingsRatio: number | undefined;
  readonly expectedSavingsRatio: number | undefined;
  readonly straggler: { readonly pipeline: number; readonly factor: number; readonly fromIteration: number; readonly untilIteration: number | undefined; readonly measured: MeasuredRun | undefined } | undefined;
  readonly replans: number;
  readonly generations: JobResult['generations'];
  readonly phases: JobResult['phases'];
  readonly profileCheck: JobResult['profileCheck'];
  readonly totalTrainingEnergyJoules: number;
  readonly profilingIterations: number;
  /** What profiling cost, as the job's status reports it (agents' energy counters). */
  readonly profilingCost: { readonly rounds: number; readonly gpuSeconds: number; readonly energyJoules: number; readonly paybackIterations: number | undefined } | undefined;
}

function mean(records: readonly IterationRecord[]): MeasuredRun | undefined {
  if (records.length === 0) return undefined;
  let t = 0;
  let e = 0;
  for (const r of records) {
    t += r.endSeconds - r.startSeconds;
    e += r.energyJoules;
  }
  return { iterations: records.length, iterationSeconds: t / records.length, iterationEnergyJoules: e / records.length };
}

function profilingCost(job: JobResult): JobSummary['profilingCost'] {
  const p = job.status?.profile;
  if (p?.gpuSeconds === undefined || p.energyJoules === undefined) return undefined;
  return { rounds: p.rounds ?? 1, gpuSeconds: p.gpuSeconds, energyJoules: p.energyJoules, paybackIterations: p.paybackIterations };
}

/** The numbers the report shows for one job. */
export function summarizeJob(job: JobResult, result: SimulationResult): JobSummary {
  const s = result.straggler;
  const firstGen = job.generations[0]?.generation ?? 1;
  // Steady iterations: before the straggler (under the first plan), and after the last replan once it recovered.
  const lastChange = job.generations[job.generations.length - 1];
  const recoveredFrom = s?.untilIteration !== undefined && lastChange !== undefined && lastChange.stragglers.length === 0 && lastChange.generation > firstGen ? lastChange.iteration + 2 : Infinity;
  const steady = job.training.filter((r) => (s === undefined ? true : r.iteration < s.atIteration || r.iteration >= recoveredFrom));
  const plan = mean(steady);
  const during = s === undefined ? [] : job.training.filter((r) => r.iteration >= s.atIteration && r.iteration < (s.untilIteration ?? Infinity));
  return {
    job: `${job.namespace}/${job.name}`,
    phase: job.status?.phase ?? 'Unknown',
    baseline: job.baseline,
    plan,
    slowdownRatio: plan === undefined ? undefined : plan.iterationSeconds / job.baseline.iterationSeconds - 1,
    savingsRatio: plan === undefined ? undefined : 1 - plan.iterationEnergyJoules / job.baseline.iterationEnergyJoules,
    expectedSavingsRatio: job.status?.plan?.expectedSavingsRatio,
    straggler: s === undefined ? undefined : { pipeline: s.pipeline, factor: s.factor, fromIteration: s.atIteration, untilIteration: s.untilIteration, measured: mean(during) },
    replans: job.status?.replans ?? 0,
    generations: job.generations,
    phases: job.phases,
    profileCheck: job.profileCheck,
    totalTrainingEnergyJoules: job.training.reduce((a, r) => a + r.energyJoules, 0),
    profilingIterations: job.profiling.length,
    profilingCost: profilingCost(job),
  };
}

const pct = (x: number | undefined): string => (x === undefined ? 'n/a' : `${(x * 100).toFixed(2)} %`);
const sec = (x: number | undefined): string => (x === undefined ? 'n/a' : `${x.toFixed(4)} s`);
const joules = (x: number | undefined): string => (x === undefined ? 'n/a' : `${x.toFixed(1)} J`);

/** The terminal/Markdown summary. */
export function renderSummary(result: SimulationResult): string {
  const lines: string[] = [];
  lines.push(`# Perseus simulation`);
  lines.push('');
  lines.push(`${result.nodes} nodes × ${result.gpusPerNode} ${result.gpuName}; time scale ${result.timeScale}×; ${result.simulatedSeconds.toFixed(0)} simulated s in ${result.wallSeconds.toFixed(1)} wall s.`);
  lines.push(`GPU clocks reset at the end: ${result.clocksResetAtEnd ? 'yes, every GPU' : `NO (${result.lockedClocksAtEnd.join(', ')})`}.`);
  for (const job of result.jobs) {
    const s = summarizeJob(job, result);
    lines.push('');
    lines.push(`## ${s.job}: ${job.stages} stages × ${job.pipelines} pipelines, ${job.microbatches} micro-batches — ${s.phase}`);
    lines.push('');
    lines.push(`Timeline (simulated s): ${s.phases.map((p) => `${p.phase} ${p.atSeconds.toFixed(0)}`).join(' → ')}`);
    if (s.profileCheck !== undefined) {
      lines.push(`Profile: ${s.profileCheck.rows} rows measured by the agents in ${s.profilingIterations} iterations; largest deviation from the GPUs' truth: time ${pct(s.profileCheck.maxTimeErrorRatio)}, energy ${pct(s.profileCheck.maxEnergyErrorRatio)}.`);
    }
    if (s.profilingCost !== undefined) {
      const c = s.profilingCost;
      const payback = c.paybackIterations === undefined ? '' : `; the plan's savings repay it after ${c.paybackIterations} training iterations`;
      lines.push(`Profiling cost: ${c.rounds} round(s), ${c.gpuSeconds.toFixed(1)} GPU-seconds, ${(c.energyJoules / 1000).toFixed(1)} kJ${payback}.`);
    }
    lines.push('');
    lines.push('| | iteration time | energy / iteration (all pipelines) | vs all-max |');
    lines.push('|---|---|---|---|');
    lines.push(`| All-max baseline | ${sec(s.baseline.iterationSeconds)} | ${joules(s.baseline.iterationEnergyJoules)} | |`);
    lines.push(`| Perseus plan (measured, ${s.plan?.iterations ?? 0} iterations) | ${sec(s.plan?.iterationSeconds)} | ${joules(s.plan?.iterationEnergyJoules)} | time ${s.slowdownRatio === undefined ? 'n/a' : `${s.slowdownRatio >= 0 ? '+' : ''}${(s.slowdownRatio * 100).toFixed(2)} %`}, energy −${pct(s.savingsRatio)} |`);
    if (s.straggler?.measured !== undefined) {
      const m = s.straggler.measured;
      lines.push(`| Straggler period (pipeline ${s.straggler.pipeline} ×${s.straggler.factor}, ${m.iterations} iterations) | ${sec(m.iterationSeconds)} | ${joules(m.iterationEnergyJoules)} | |`);
    }
    lines.push('');
    lines.push(`Savings: ${pct(s.savingsRatio)} of the all-max energy measured (the controller expected ${pct(s.expectedSavingsRatio)}).`);
    if (s.straggler !== undefined) {
      lines.push(`Straggler: pipeline ${s.straggler.pipeline} slowed ${s.straggler.factor}× from iteration ${s.straggler.fromIteration}${s.straggler.untilIteration === undefined ? '' : ` until ${s.straggler.untilIteration}`}.`);
    }
    lines.push(`Plan generations (${s.replans} replans): ${s.generations.map((g) => `${g.generation} at iteration ${g.iteration}${g.stragglers.length > 0 ? ` (stragglers: pipeline ${g.stragglers.join(', ')})` : ''}`).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes report.json, summary.md, energy.svg and iterations.svg into `dir`. */
export function writeReport(dir: string, result: SimulationResult): string[] {
  mkdirSync(dir, { recursive: true });
  const summaries = result.jobs.map((j) => summarizeJob(j, result));
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  write('report.json', `${JSON.stringify({ summaries, result }, null, 1)}\n`);
  write('summary.md', renderSummary(result));
  write('energy.svg', renderEnergyChart(result));
  write('iterations.svg', renderIterationsChart(result));
  return files;
}
