// The report's charts: energy over simulated time (the run's and the all-max baseline's cumulative energy,
// average power per iteration on its own axis) and energy per training iteration, with the jobs' phases,
// straggler periods and replans shaded or marked. Power comes from each iteration's measured energy and
// time, never from instantaneous samples, so it cannot alias with the iterations.
import { renderPlot, type Band, type Marker, type Series } from '../../report/svg.ts';
import type { IterationRecord } from './fabric.ts';
import type { JobResult, SimulationResult } from './simulation.ts';

/** The average power of one iteration: its measured energy over its duration. */
export interface IterationPower {
  readonly iteration: number;
  readonly startSeconds: number;
  readonly endSeconds: number;
  readonly powerWatts: number;
}

/** Energy / time of every iteration (of one world: a job's profiling or training run). */
export function powerPerIteration(records: readonly IterationRecord[]): IterationPower[] {
  return records
    .filter((r) => r.endSeconds > r.startSeconds)
    .map((r) => ({ iteration: r.iteration, startSeconds: r.startSeconds, endSeconds: r.endSeconds, powerWatts: r.energyJoules / (r.endSeconds - r.startSeconds) }));
}

/** A step line through the iterations' power (kW): flat over each iteration, broken across gaps between them. */
function powerSteps(steps: readonly IterationPower[]): Array<readonly [number, number]> {
  const points: Array<readonly [number, number]> = [];
  let lastEnd: number | undefined;
  for (const s of steps) {
    if (lastEnd !== undefined && s.startSeconds - lastEnd > 1e-6) points.push([lastEnd, Number.NaN]);
    points.push([s.startSeconds, s.powerWatts / 1000], [s.endSeconds, s.powerWatts / 1000]);
    lastEnd = s.endSeconds;
  }
  return points;
}

/**
 * The all-max baseline's cumulative energy at each energy sample: the run's, with every training iteration
 * finished by then charged the baseline's energy per iteration instead of its measured energy. Samples
 * before the first training iteration are left out (the two curves are the same there).
 */
export function baselineCumulativeJoules(result: SimulationResult): Array<readonly [number, number]> {
  const iterations = result.jobs.flatMap((j) => j.training.map((r) => ({ endSeconds: r.endSeconds, extraJoules: j.baseline.iterationEnergyJoules - r.energyJoules })));
  iterations.sort((a, b) => a.endSeconds - b.endSeconds);
  const firstStart = Math.min(...result.jobs.flatMap((j) => j.training.map((r) => r.startSeconds)));
  const out: Array<readonly [number, number]> = [];
  let k = 0;
  let extra = 0;
  let previous: readonly [number, number] | undefined;
  for (const [t, joules] of result.energy) {
    while (k < iterations.length && iterations[k]!.endSeconds <= t) extra += iterations[k++]!.extraJoules;
    if (t < firstStart) {
      previous = [t, joules];
      continue;
    }
    if (previous !== undefined && out.length === 0) out.push(previous);
    out.push([t, joules + extra]);
  }
  return out;
}

/** The first and last simulated second of the straggler's iterations of a job's training run. */
export function stragglerSeconds(job: JobResult, result: SimulationResult): { fromSeconds: number; toSeconds: number } | undefined {
  const s = result.straggler;
  if (s === undefined) return undefined;
  const slowed = job.training.filter((r) => r.iteration >= s.atIteration && r.iteration < (s.untilIteration ?? Infinity));
  if (slowed.length === 0) return undefined;
  return { fromSeconds: slowed[0]!.startSeconds, toSeconds: slowed[slowed.length - 1]!.endSeconds };
}

const PHASE_COLORS: Readonly<Record<string, string>> = { Profiling: '#e3d7f2', Planning: '#fbe6a8' };
const STRAGGLER_COLOR = '#f6c9c4';
const REPLAN_COLOR = '#b22222';
const JOB_COLORS = ['#ff7f0e', '#2ca02c', '#9467bd', '#8c564b'];

function stragglerLabel(result: SimulationResult): string {
  const s = result.straggler;
  return s === undefined ? 'straggler' : `straggler: pipeline ${s.pipeline} ×${s.factor}`;
}

/** Shaded phases (Profiling, Planning) and straggler periods on simulated time. */
export function timeBands(result: SimulationResult): Band[] {
  const prefix = (j: JobResult): string => (result.jobs.length > 1 ? `${j.name}: ` : '');
  const bands: Band[] = [];
  for (const j of result.jobs) {
    j.phases.forEach((p, i) => {
      const color = PHASE_COLORS[p.phase];
      if (color === undefined) return;
      bands.push({ from: p.atSeconds, to: j.phases[i + 1]?.atSeconds ?? result.simulatedSeconds, label: `${prefix(j)}${p.phase}`, color });
    });
    const s = stragglerSeconds(j, result);
    if (s !== undefined) bands.push({ from: s.fromSeconds, to: s.toSeconds, label: `${prefix(j)}${stragglerLabel(result)}`, color: STRAGGLER_COLOR });
  }
  return bands;
}

/** Every plan generation after a job's first, at `at(generation)`. */
function replanMarkers(result: SimulationResult, at: (g: JobResult['generations'][number]) => number): Marker[] {
  return result.jobs.flatMap((j) =>
    j.generations.slice(1).map((g) => ({ at: at(g), label: `${result.jobs.length > 1 ? `${j.name} ` : ''}g${g.generation}`, legend: 'replan: plan generation gN', color: REPLAN_COLOR })),
  );
}

/** energy.svg: cumulative energy (MJ, left) of the run and of the all-max baseline, average power per iteration (kW, right). */
export function renderEnergyChart(result: SimulationResult): string {
  const series: Series[] = [
    { name: 'run: cumulative energy, every GPU (MJ)', color: '#1f77b4', points: result.energy.map(([t, j]) => [t, j / 1e6] as const), line: true },
    { name: 'all-max baseline: cumulative energy (MJ)', color: '#555555', dash: '6 3', points: baselineCumulativeJoules(result).map(([t, j]) => [t, j / 1e6] as const), line: true },
  ];
  result.jobs.forEach((j, i) => {
    const color = JOB_COLORS[i % JOB_COLORS.length]!;
    const prefix = result.jobs.length > 1 ? `${j.name} ` : '';
    series.push({ name: `${prefix}profiling: power / iteration (kW)`, color: '#9467bd', points: powerSteps(powerPerIteration(j.profiling)), line: true, axis: 'right' });
    series.push({ name: `${prefix}training: power / iteration (kW)`, color, points: powerSteps(powerPerIteration(j.training)), line: true, axis: 'right' });
  });
  return renderPlot({
    title: 'Energy and power of the simulated GPUs over simulated time',
    x: { label: 'simulated time (s)' },
    y: { label: 'cumulative energy (MJ)', zero: true },
    y2: { label: 'average power per iteration (kW)', zero: true },
    series: series.filter((s) => s.points.length > 0),
    bands: timeBands(result),
    markers: replanMarkers(result, (g) => g.atSeconds),
  });
}

/** iterations.svg: energy per training iteration against the all-max baseline (J). */
export function renderIterationsChart(result: SimulationResult): string {
  const series: Series[] = result.jobs.flatMap((j, i) => {
    const prefix = result.jobs.length > 1 ? `${j.name}: ` : '';
    const color = JOB_COLORS[(i + 1) % JOB_COLORS.length]!;
    return [
      { name: `${prefix}energy / iteration (J)`, color, points: j.training.map((r) => [r.iteration, r.energyJoules] as const), line: true },
      { name: `${prefix}all-max baseline (J)`, color: '#555555', dash: '6 3', points: j.training.map((r) => [r.iteration, j.baseline.iterationEnergyJoules] as const), line: true },
    ];
  });
  const s = result.straggler;
  const last = Math.max(0, ...result.jobs.map((j) => j.training.length - 1));
  const bands: Band[] = s === undefined || s.atIteration > last ? [] : [{ from: s.atIteration, to: Math.min(s.untilIteration ?? last + 1, last + 1), label: stragglerLabel(result), color: STRAGGLER_COLOR }];
  return renderPlot({
    title: 'Energy per training iteration: Perseus vs all-max',
    x: { label: 'training iteration' },
    y: { label: 'energy per iteration (J)' },
    series,
    bands,
    markers: replanMarkers(result, (g) => g.iteration),
  });
}
