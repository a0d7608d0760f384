// Profiling rounds: what was measured so far (kept in the job's ConfigMap as profiling.json, so a restarted
// controller resumes the round it was in), the fitted model of those measurements, and what the next
// round measures: the clocks a plan sketched on the model would use without a measurement.
import type { Instruction, ProfileMeasurement, StageProfile } from '../api/planner-types.ts';
import { fitModelProfile, modelAsProfile, refinementTargets, type ModelRow, type RefinementTargets } from '../planner/profile-model.ts';
import type { FrequencyPlan } from '../api/planner-types.ts';

/** One finished round: its rows (all stages) and what it cost. */
export interface ProfilingRound {
  readonly round: number;
  readonly rows: readonly ProfileMeasurement[];
  readonly gpuSeconds: number;
  readonly energyJoules: number;
  /** Energy of the plan sketched on the model after this round (J), when one was sketched. */
  readonly sketchEnergyJoules?: number;
}

/** profiling.json: the rounds done, and the blocking power measured by the first. */
export interface ProfilingState {
  readonly rounds: readonly ProfilingRound[];
  readonly blockingPowerWatts?: number;
}

const INSTRUCTIONS: readonly Instruction[] = ['forward', 'backward'];

function isRow(v: unknown): v is ProfileMeasurement {
  const r = v as Record<string, unknown>;
  return (
    typeof r === 'object' &&
    r !== null &&
    Number.isInteger(r['stage']) &&
    INSTRUCTIONS.includes(r['instruction'] as Instruction) &&
    typeof r['frequencyMhz'] === 'number' &&
    typeof r['timeSeconds'] === 'number' &&
    (r['timeSeconds'] as number) > 0 &&
    typeof r['energyJoules'] === 'number' &&
    (r['energyJoules'] as number) >= 0
  );
}

/** Parses profiling.json; an absent or unreadable value starts over at round 1 (the rounds are re-measured). */
export function parseProfilingState(text: string | undefined): ProfilingState {
  if (text === undefined) return { rounds: [] };
  try {
    const v = JSON.parse(text) as { rounds?: unknown; blockingPowerWatts?: unknown };
    if (!Array.isArray(v.rounds)) return { rounds: [] };
    const rounds: ProfilingRound[] = [];
    for (const [i, r] of (v.rounds as Record<string, unknown>[]).entries()) {
      if (r['round'] !== i + 1 || !Array.isArray(r['rows']) || !(r['rows'] as unknown[]).every(isRow)) return { rounds: [] };
      rounds.push({
        round: i + 1,
        rows: r['rows'] as ProfileMeasurement[],
        gpuSeconds: Number(r['gpuSeconds']) || 0,
        energyJoules: Number(r['energyJoules']) || 0,
        ...(typeof r['sketchEnergyJoules'] === 'number' ? { sketchEnergyJoules: r['sketchEnergyJoules'] } : {}),
      });
    }
    return { rounds, ...(typeof v.blockingPowerWatts === 'number' && v.blockingPowerWatts >= 0 ? { blockingPowerWatts: v.blockingPowerWatts } : {}) };
  } catch {
    return { rounds: [] };
  }
}

export function profilingStateToJson(state: ProfilingState): string {
  return JSON.stringify(state);
}

/** Every measured row of the rounds; a later round's row replaces an earlier one of the same computation and clock. */
export function measuredRows(state: ProfilingState): ProfileMeasurement[] {
  const byKey = new Map<string, ProfileMeasurement>();
  for (const r of state.rounds) for (const m of r.rows) byKey.set(`${m.stage}/${m.instruction}/${m.frequencyMhz}`, m);
  return [...byKey.values()];
}

/** What the rounds cost, for status.profile. */
export function profilingCost(state: ProfilingState): { rounds: number; gpuSeconds: number; energyJoules: number } {
  return {
    rounds: state.rounds.length,
    gpuSeconds: state.rounds.reduce((a, r) => a + r.gpuSeconds, 0),
    energyJoules: state.rounds.reduce((a, r) => a + r.energyJoules, 0),
  };
}

/** The measured-only profile: the only one a job is planned on. */
export function measuredProfile(state: ProfilingState, stageCount: number): StageProfile {
  return { stageCount, measurements: measuredRows(state), ...(state.blockingPowerWatts === undefined ? {} : { blockingPowerWatts: state.blockingPowerWatts }) };
}

/**
 * The clock grid the model fills: from the highest measured clock down to the lowest in steps of the
 * distance between the two highest measured clocks (the first round measures both). Clocks the GPUs do not
 * support stay unmeasured: the agents skip them, and the plan never uses an unmeasured clock.
 */
export function clockGridMhz(rows: readonly ProfileMeasurement[]): number[] {
  const clocks = [...new Set(rows.map((m) => m.frequencyMhz))].sort((a, b) => b - a);
  if (clocks.length < 2) return clocks;
  const step = clocks[0]! - clocks[1]!;
  const lowest = clocks[clocks.length - 1]!;
  const grid: number[] = [];
  for (let f = clocks[0]!; f >= lowest && grid.length < 1024; f -= step) grid.push(f);
  return [...new Set([...grid, ...clocks])].sort((a, b) => b - a);
}

/** The model of what was measured so far, as rows and as a profile to sketch a plan on. */
export function modelOf(state: ProfilingState, stageCount: number): { rows: ModelRow[]; profile: StageProfile } {
  const measured = measuredRows(state);
  const rows = fitModelProfile(measured, clockGridMhz(measured));
  return { rows, profile: modelAsProfile(rows, stageCount, state.blockingPowerWatts) };
}

/** What a sketched plan asks of the next round. */
export interface NextRound {
  readonly targets: RefinementTargets;
  /** True when no further round is run: nothing left to measure, the round limit, or the sketch converged. */
  readonly stop: boolean;
  readonly reason: string;
}

/** The next round's targets from a plan sketched on the model, or why profiling stops here. */
export function nextRound(
  state: ProfilingState,
  sketch: FrequencyPlan,
  sketchEnergyJoules: number,
  baselineEnergyJoules: number,
  model: readonly ModelRow[],
  o: { readonly maxRounds: number; readonly neighbours: number; readonly tolerancePercent: number },
): NextRound {
  const targets = refinementTargets(sketch, model, o.neighbours);
  const done = state.rounds.length;
  if (targets.size === 0) return { targets, stop: true, reason: 'the sketched plan uses measured clocks only' };
  if (done >= 1 + o.maxRounds) return { targets, stop: true, reason: `the round limit (${o.maxRounds} after the first) was reached` };
  const previous = done >= 2 ? state.rounds[done - 1]!.sketchEnergyJoules : undefined;
  if (previous !== undefined && baselineEnergyJoules > 0) {
    const change = (Math.abs(previous - sketchEnergyJoules) / baselineEnergyJoules) * 100;
    if (change < o.tolerancePercent) return { targets, stop: true, reason: `the sketched plan changed by ${change.toFixed(3)} % of the all-max energy (< ${o.tolerancePercent} %)` };
  }
  return { targets, stop: false, reason: '' };
}
