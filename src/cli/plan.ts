// `perseus plan`: stage profile → frontier → chosen plan, printed as a summary and written as files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CostModel, PipelineSchedule, PipelineSpec, PlanGranularity, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import {
  allMaxPlan,
  autoUnitTimeSeconds,
  choosePlan,
  evaluatePlan,
  fastestPlan,
  frontierToCsv,
  minimumEnergyPlan,
  parseStageProfile,
  PlannerInputError,
  solveFrontier,
  type ChosenPlan,
} from '../planner/index.ts';
import type { Command } from './main.ts';
import { choiceFlag, FlagError, intFlag, numberFlag, parseDurationSeconds, parseFlags, runCommand } from './flags.ts';

const HELP = `Usage: perseus plan --profile P.csv --stages 8 --microbatches 12 [flags]

Computes the iteration time–energy frontier of a pipeline from its stage profile and picks a plan.

  --profile FILE          stage profile, CSV (stage,instruction,frequency,time,energy) or JSON (required)
  --stages N              pipeline stages; must match the profile (default: the profile's)
  --microbatches N        micro-batches per iteration (required)
  --schedule S            1f1b | gpipe | interleaved-1f1b (default 1f1b)
  --virtual-stages N      model chunks per stage for interleaved-1f1b (default 2)
  --unit-time T           time quantum, e.g. 0.001, 1ms, 100us, or auto: the finest of 10us … 100ms whose
                          solve fits the planner's budget (computations × steps ≤ 24 million, ≤ 15000
                          frontier points; lowtime steps count double) (default auto)
  --blocking-power W      GPU power while blocked on communication, watts (default: the profile's, else 83.64)
  --cost-model M          lowtime | exact (default exact)
  --granularity G         instruction | stage (default instruction)
  --target-slowdown X     allowed slowdown over the all-max baseline, e.g. 0.05 (default 0)
  --out DIR               write frontier.csv, plan.json, frontier.svg, summary.json there
  --quiet                 no progress output
`;

const SCHEDULES: Record<string, PipelineSchedule> = { '1f1b': '1F1B', gpipe: 'GPipe', 'interleaved-1f1b': 'Interleaved1F1B' };

function describe(label: string, c: { model?: { timeSeconds: number; energyJoules: number }; trueTimeSeconds: number; trueEnergyJoules: number }, baselineEnergy: number): string {
  const savings = (1 - c.trueEnergyJoules / baselineEnergy) * 100;
  const model = c.model === undefined ? '' : `  model ${c.model.timeSeconds.toFixed(4)} s ${c.model.energyJoules.toFixed(1)} J`;
  return `${label.padEnd(22)} true ${c.trueTimeSeconds.toFixed(4)} s ${c.trueEnergyJoules.toFixed(1)} J  (${savings >= 0 ? '' : '+'}${Math.abs(savings).toFixed(2)} % ${savings >= 0 ? 'saved' : 'more'})${model}`;
}

function pointSummary(c: ChosenPlan): Record<string, unknown> {
  return {
    index: c.index,
    model: { timeSeconds: c.point.timeSeconds, energyJoules: c.point.energyJoules },
    true: { timeSeconds: c.point.trueTimeSeconds, energyJoules: c.point.trueEnergyJoules },
    fittedToTarget: c.fitted,
  };
}

/** `--unit-time auto`: the planner's choice, its input errors reported against the flags. */
function autoUnitTime(profile: StageProfile, pipeline: PipelineSpec, blockingPowerWatts: number, costModel: CostModel): number {
  try {
    return autoUnitTimeSeconds(profile, pipeline, { blockingPowerWatts, costModel });
  } catch (err) {
    if (err instanceof PlannerInputError) throw new FlagError(err.issues.map((i) => `${i.path}: ${i.message}`).join('\n  '));
    throw err;
  }
}

/** An explicit `--unit-time`: a positive duration. */
function unitTimeFlag(raw: string): number {
  const seconds = parseDurationSeconds(raw);
  if (seconds === undefined || !(seconds > 0)) {
    throw new FlagError(`--unit-time: expected a positive duration such as 0.001, 1ms or 100us, or auto, got "${raw}"`);
  }
  return seconds;
}

/** A unit time in the largest unit that keeps it whole where possible: 1 ms, 0.2 ms, 50 µs. */
function formatUnit(seconds: number): string {
  const ms = seconds * 1000;
  return ms >= 0.1 ? `${Number(ms.toPrecision(6))} ms` : `${Number((ms * 1000).toPrecision(6))} µs`;
}

/** The stage profile (CSV or JSON) of `--profile`, or a FlagError listing the first issues. */
function profileFlag(file: string): StageProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlagError(`--profile: cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = parseStageProfile(text);
  if (!parsed.ok) {
    const lines = parsed.issues.slice(0, 20).map((i) => `  ${i.path}: ${i.message}`);
    throw new FlagError(`--profile: ${file} is not a valid stage profile:\n${lines.join('\n')}`);
  }
  return parsed.value;
}

export const command: Command = {
  summary: 'Compute the time–energy frontier and a frequency plan from a stage profile',
  run: (argv) =>
    runCommand('plan', async () => {
      const { values } = parseFlags(argv, {
        profile: { type: 'string' },
        stages: { type: 'string' },
        microbatches: { type: 'string' },
        schedule: { type: 'string' },
        'virtual-stages': { type: 'string' },
        'unit-time': { type: 'string' },
        'blocking-power': { type: 'string' },
        'cost-model': { type: 'string' },
        granularity: { type: 'string' },
        'target-slowdown': { type: 'string' },
        out: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      });
      if (values.help === true) {
        process.stdout.write(HELP);
        return 0;
      }
      if (values.profile === undefined) throw new FlagError('--profile: required (a stage profile CSV or JSON file)');
      if (values.microbatches === undefined) throw new FlagError('--microbatches: required (micro-batches per iteration, an integer ≥ 1)');
      const profile = profileFlag(values.profile);
      const schedule = SCHEDULES[choiceFlag('schedule', values.schedule, Object.keys(SCHEDULES), '1f1b')]!;
      const pipeline: PipelineSpec = {
        stages: intFlag('stages', values.stages, profile.stageCount),
        microbatches: intFlag('microbatches', values.microbatches, 1),
        schedule,
        ...(schedule === 'Interleaved1F1B' ? { virtualStages: intFlag('virtual-stages', values['virtual-stages'], 2, 2) } : {}),
      };
      const blockingPowerWatts = numberFlag('blocking-power', values['blocking-power'], profile.blockingPowerWatts ?? 83.64, 0, 10000);
      const costModel = choiceFlag<CostModel>('cost-model', values['cost-model'], ['lowtime', 'exact'], 'exact');
      const autoUnit = values['unit-time'] === undefined || values['unit-time'].trim().toLowerCase() === 'auto';
      const options: PlannerOptions = {
        unitTimeSeconds: autoUnit ? autoUnitTime(profile, pipeline, blockingPowerWatts, costModel) : unitTimeFlag(values['unit-time']!),
        blockingPowerWatts,
        costModel,
        granularity: choiceFlag<PlanGranularity>('granularity', values.granularity, ['Instruction', 'Stage'], 'Instruction'),
      };
      const slowdown = numberFlag('target-slowdown', values['target-slowdown'], 0, 0, 10);
      const quiet = values.quiet === true || !process.stderr.isTTY;

      const started = performance.now();
      let lastDraw = 0;
      let frontier;
      try {
        frontier = solveFrontier(profile, pipeline, options, (done, total) => {
          const now = performance.now();
          if (quiet || now - lastDraw < 200) return;
          lastDraw = now;
          process.stderr.write(`\rSolving frontier: ${done}/${total} steps (${((100 * done) / total).toFixed(0)} %)   `);
        });
      } catch (err) {
        if (err instanceof PlannerInputError) throw new FlagError(err.issues.map((i) => `${i.path}: ${i.message}`).join('\n  '));
        throw err;
      }
      if (!quiet) process.stderr.write('\r\x1b[K');
      const solveSeconds = (performance.now() - started) / 1000;
      if (frontier.points.length === 0) {
        process.stderr.write('perseus plan: the solver found no frontier point (every computation already runs at its only option)\n');
        return 1;
      }
      const baseline = evaluatePlan(allMaxPlan(profile, pipeline, options.granularity), profile, pipeline, options.blockingPowerWatts);
      const target = baseline.timeSeconds * (1 + slowdown);
      const chosen = choosePlan(frontier, target);
      const fastest = fastestPlan(frontier);
      const tStar = minimumEnergyPlan(frontier);
      const savings = 1 - chosen.point.trueEnergyJoules / baseline.energyJoules;
      const worstOvershoot = Math.max(0, ...frontier.points.map((p) => p.trueTimeSeconds - p.timeSeconds));

      const out = process.stdout;
      out.write(`Pipeline: ${pipeline.stages} stages × ${pipeline.microbatches} micro-batches, ${pipeline.schedule}; cost model ${options.costModel}, ${options.granularity} granularity, unit ${formatUnit(options.unitTimeSeconds)}${autoUnit ? ' (auto)' : ''}, blocking ${options.blockingPowerWatts} W\n`);
      out.write(`Frontier: ${frontier.points.length} points in ${solveSeconds.toFixed(2)} s\n`);
      out.write(`${describe('All-max baseline', { trueTimeSeconds: baseline.timeSeconds, trueEnergyJoules: baseline.energyJoules }, baseline.energyJoules)}\n`);
      out.write(`${describe('Fastest point', { model: fastest.point, trueTimeSeconds: fastest.point.trueTimeSeconds, trueEnergyJoules: fastest.point.trueEnergyJoules }, baseline.energyJoules)}\n`);
      out.write(`${describe(`Chosen (+${(slowdown * 100).toFixed(1)} % time)`, { model: chosen.point, trueTimeSeconds: chosen.point.trueTimeSeconds, trueEnergyJoules: chosen.point.trueEnergyJoules }, baseline.energyJoules)}\n`);
      out.write(`${describe('Minimum energy T*', { model: tStar.point, trueTimeSeconds: tStar.point.trueTimeSeconds, trueEnergyJoules: tStar.point.trueEnergyJoules }, baseline.energyJoules)}\n`);
      out.write(`Savings at the target: ${(savings * 100).toFixed(2)} % of the all-max energy\n`);

      if (values.out !== undefined) {
        const dir = values.out;
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'frontier.csv'), frontierToCsv(frontier));
        writeFileSync(path.join(dir, 'plan.json'), `${JSON.stringify(chosen.plan, null, 2)}\n`);
        const summary = {
          inputs: { profile: path.resolve(values.profile), pipeline, options, unitTime: autoUnit ? 'auto' : 'flag', targetSlowdown: slowdown },
          baseline: { true: { timeSeconds: baseline.timeSeconds, energyJoules: baseline.energyJoules } },
          fastest: pointSummary(fastest),
          chosen: { ...pointSummary(chosen), targetSeconds: target },
          minimumEnergy: pointSummary(tStar),
          savings: { trueEnergyRatio: savings, trueTimeRatio: chosen.point.trueTimeSeconds / baseline.timeSeconds },
          frontier: {
            points: frontier.points.length,
            solveSeconds,
            stopReason: frontier.stopReason,
            // Floor quantization (lowtime) makes model times shorter than true times by up to this much.
            worstTrueOverModelSeconds: worstOvershoot,
            chosenTrueOverModelSeconds: chosen.point.trueTimeSeconds - chosen.point.timeSeconds,
          },
        };
        writeFileSync(path.join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
        // Loaded only here: a plan without --out never needs the chart code.
        const { renderChart } = await import('../report/svg.ts');
        const svg = renderChart(
          `Iteration time–energy frontier (${pipeline.stages}×${pipeline.microbatches}, ${options.costModel})`,
          'iteration time (s)',
          'energy per iteration (J)',
          [
            { name: 'frontier (true)', color: '#4a7bd0', points: frontier.points.map((p) => [p.trueTimeSeconds, p.trueEnergyJoules] as const), radius: 1.5 },
            { name: 'all-max baseline', color: '#d04a4a', points: [[baseline.timeSeconds, baseline.energyJoules]], radius: 6 },
            { name: 'chosen plan', color: '#2ca02c', points: [[chosen.point.trueTimeSeconds, chosen.point.trueEnergyJoules]], radius: 6 },
          ],
        );
        writeFileSync(path.join(dir, 'frontier.svg'), svg);
        out.write(`Wrote frontier.csv, plan.json, frontier.svg, summary.json to ${dir}\n`);
      }
      return 0;
    }),
};
