// Execution options of each (stage, instruction): the measured clocks, Pareto-filtered and quantized to the
// unit time, with the cost model the solver minimises. Cost = energy − P_block · quantized time, so that
// E(T) = Σ cost_i + S · P_block · T (blocking energy accounted once, for the whole iteration).
import type { CostModel, Instruction, StageProfile } from '../api/planner-types.ts';
import { INSTRUCTIONS } from '../api/planner-types.ts';
import { fitExponential, type ExponentialFit } from './fit.ts';
import type { PlannerIssue, Result } from './result.ts';
import { fail, ok } from './result.ts';

/** One candidate clock of an operation. */
export interface ExecutionOption {
  readonly frequencyMhz: number;
  readonly timeSeconds: number;
  readonly energyJoules: number;
  /** Quantized time in units (floor for `lowtime`, ceil for `exact`). */
  readonly quantTime: number;
  /** energy − P_block · quantTime · unit. */
  readonly cost: number;
}

/** The options of one (stage, instruction), slowest first, with its cost model over integer durations. */
export interface OperationSpec {
  readonly stage: number;
  readonly instruction: Instruction;
  readonly options: readonly ExecutionOption[];
  /** Every Pareto-optimal option (before one-per-step deduplication), slowest first: what a plan may use. */
  readonly pareto: readonly ExecutionOption[];
  readonly minDuration: number;
  readonly maxDuration: number;
  /** Model cost at integer duration `q` in [minDuration, maxDuration] (callers may probe one step outside). */
  readonly cost: (q: number) => number;
  /** The fitted exponential (lowtime model only). */
  readonly fit?: ExponentialFit;
}

const SOFT_NOISE_FACTOR = 0.95;

/** Drops options beaten by another in both time and energy (by more than `1 − factor` when factor < 1). */
export function paretoFilter<T extends { timeSeconds: number; energyJoules: number }>(options: readonly T[], factor = 1): T[] {
  return options.filter((o) => !options.some((p) => p.timeSeconds < o.timeSeconds * factor && p.energyJoules < o.energyJoules * factor));
}

/** Builds every (stage, instruction)'s OperationSpec; index = stage · 2 + (0 forward | 1 backward). */
export function buildOperationSpecs(
  profile: StageProfile,
  unitTimeSeconds: number,
  blockingPowerWatts: number,
  costModel: CostModel,
): Result<OperationSpec[]> {
  const issues: PlannerIssue[] = [];
  const specs: OperationSpec[] = [];
  for (let s = 0; s < profile.stageCount; s++) {
    for (const instruction of INSTRUCTIONS) {
      const measured = profile.measurements.filter((m) => m.stage === s && m.instruction === instruction);
      const spec = costModel === 'lowtime'
        ? lowtimeSpec(s, instruction, measured, unitTimeSeconds, blockingPowerWatts)
        : exactSpec(s, instruction, measured, unitTimeSeconds, blockingPowerWatts);
      if (typeof spec === 'string') issues.push({ path: `stage ${s} ${instruction}`, message: spec });
      else specs.push(spec);
    }
  }
  return issues.length > 0 ? fail(issues) : ok(specs);
}

type Measured = ReadonlyArray<{ frequencyMhz: number; timeSeconds: number; energyJoules: number }>;

function toOptions(measured: Measured, quantize: (t: number) => number, unit: number, power: number): ExecutionOption[] {
  return measured
    .map((o) => {
      const q = quantize(o.timeSeconds);
      return { frequencyMhz: o.frequencyMhz, timeSeconds: o.timeSeconds, energyJoules: o.energyJoules, quantTime: q, cost: o.energyJoules - power * q * unit };
    })
    .sort((a, b) => b.timeSeconds - a.timeSeconds);
}

/** The lowtime model's candidate clocks: the hard Pareto filter, the soft one when 3 or fewer survive. */
function lowtimeCandidates<T extends Measured[number]>(measured: readonly T[]): T[] {
  const filtered = paretoFilter(measured);
  return filtered.length <= 3 ? paretoFilter(measured, SOFT_NOISE_FACTOR) : filtered;
}

/** The exact model's candidate clocks: Pareto-optimal in (time, energy − P_block · time). */
function exactCandidates<T extends Measured[number]>(measured: readonly T[], power: number): T[] {
  return measured.filter(
    (o) => !measured.some((p) => p.timeSeconds < o.timeSeconds && p.energyJoules - power * p.timeSeconds < o.energyJoules - power * o.timeSeconds),
  );
}

/**
 * The fastest and slowest time (s) the cost model may plan for each (stage, instruction), indexed as
 * buildOperationSpecs (stage · 2 + 0 forward | 1 backward); NaN where the profile measures none.
 */
export function candidateTimeBounds(profile: StageProfile, blockingPowerWatts: number, costModel: CostModel): { fastest: Float64Array; slowest: Float64Array } {
  const fastest = new Float64Array(profile.stageCount * 2).fill(Number.NaN);
  const slowest = new Float64Array(profile.stageCount * 2).fill(Number.NaN);
  for (let s = 0; s < profile.stageCount; s++) {
    INSTRUCTIONS.forEach((instruction, k) => {
      const measured = profile.measurements.filter((m) => m.stage === s && m.instruction === instruction);
      const candidates = costModel === 'lowtime' ? lowtimeCandidates(measured) : exactCandidates(measured, blockingPowerWatts);
      if (candidates.length === 0) return;
      fastest[2 * s + k] = Math.min(...candidates.map((o) => o.timeSeconds));
      slowest[2 * s + k] = Math.max(...candidates.map((o) => o.timeSeconds));
    });
  }
  return { fastest, slowest };
}

/** The reference model: hard then soft Pareto filter, floor quantization keeping the costliest option per step, exponential fit. */
function lowtimeSpec(stage: number, instruction: Instruction, measured: Measured, unit: number, power: number): OperationSpec | string {
  const filtered = lowtimeCandidates(measured);
  const pareto = toOptions(filtered, (t) => Math.floor(t / unit), unit, power);
  const byQuant = new Map<number, (typeof filtered)[number]>();
  for (const o of filtered) {
    const q = Math.floor(o.timeSeconds / unit);
    const prev = byQuant.get(q);
    if (prev === undefined || o.energyJoules > prev.energyJoules) byQuant.set(q, o);
  }
  const options = [...byQuant.entries()]
    .map(([q, o]) => ({ frequencyMhz: o.frequencyMhz, timeSeconds: o.timeSeconds, energyJoules: o.energyJoules, quantTime: q, cost: o.energyJoules - power * q * unit }))
    .sort((a, b) => b.quantTime - a.quantTime);
  if (options.length < 4) {
    return `the lowtime cost model needs at least 4 distinct quantized times after Pareto filtering, found ${options.length}; use a smaller unit time or --cost-model exact`;
  }
  const fit = fitExponential(options.map((o) => o.quantTime), options.map((o) => o.cost), unit);
  if (fit === undefined) return 'no initial guess fitted cost(q) = a·e^(b·q) + c with a ≥ 0; use --cost-model exact';
  const { a, b, c } = fit;
  return {
    stage,
    instruction,
    options,
    pareto,
    minDuration: options[options.length - 1]!.quantTime,
    maxDuration: options[0]!.quantTime,
    cost: tabulated(options[options.length - 1]!.quantTime, options[0]!.quantTime, (q) => a * Math.exp(b * q) + c),
    fit,
  };
}

/**
 * The measured model: Pareto filter, ceil quantization (a plan's true time never exceeds its planned
 * duration), cheapest option per step, and the lower convex hull interpolated between its vertices.
 */
function exactSpec(stage: number, instruction: Instruction, measured: Measured, unit: number, power: number): OperationSpec | string {
  // Pareto on the effective energy e − P_block·t: a slower clock that spends more than a faster one can still
  // win, because its GPU would otherwise sit blocked at P_block for the difference.
  const filtered = exactCandidates(measured, power);
  // The tiny tolerance keeps a time of exactly k units at k despite floating-point division.
  const quantize = (t: number): number => Math.max(1, Math.ceil(t / unit - 1e-9));
  const pareto = toOptions(filtered, quantize, unit, power);
  const byQuant = new Map<number, (typeof filtered)[number]>();
  for (const o of filtered) {
    const q = quantize(o.timeSeconds);
    const prev = byQuant.get(q);
    if (prev === undefined || o.energyJoules < prev.energyJoules) byQuant.set(q, o);
  }
  const options = [...byQuant.entries()]
    .map(([q, o]) => ({ frequencyMhz: o.frequencyMhz, timeSeconds: o.timeSeconds, energyJoules: o.energyJoules, quantTime: q, cost: o.energyJoules - power * q * unit }))
    .sort((a, b) => b.quantTime - a.quantTime);
  if (options.length === 0) return 'no measurements';
  // Lower convex hull over (q, cost), scanning from the fastest option.
  const asc = [...options].reverse();
  const hull: Array<{ q: number; c: number }> = [];
  for (const o of asc) {
    const p = { q: o.quantTime, c: o.cost };
    while (hull.length >= 2) {
      const h1 = hull[hull.length - 2]!;
      const h2 = hull[hull.length - 1]!;
      // Remove h2 if it lies on or above the segment h1 → p.
      if ((h2.c - h1.c) * (p.q - h1.q) >= (p.c - h1.c) * (h2.q - h1.q)) hull.pop();
      else break;
    }
    hull.push(p);
  }
  const minQ = hull[0]!.q;
  const maxQ = hull[hull.length - 1]!.q;
  const table = new Float64Array(maxQ - minQ + 1);
  for (let i = 0; i + 1 < hull.length; i++) {
    const h1 = hull[i]!;
    const h2 = hull[i + 1]!;
    for (let q = h1.q; q <= h2.q; q++) table[q - minQ] = h1.c + ((h2.c - h1.c) * (q - h1.q)) / (h2.q - h1.q);
  }
  if (hull.length === 1) table[0] = hull[0]!.c;
  const slopeLow = hull.length > 1 ? (hull[1]!.c - hull[0]!.c) / (hull[1]!.q - hull[0]!.q) : 0;
  const slopeHigh = hull.length > 1 ? (hull[hull.length - 1]!.c - hull[hull.length - 2]!.c) / (hull[hull.length - 1]!.q - hull[hull.length - 2]!.q) : 0;
  return {
    stage,
    instruction,
    options,
    pareto,
    minDuration: minQ,
    maxDuration: maxQ,
    // Outside the hull the cost extends linearly; the solver only probes one step past either end.
    cost: (q) => (q < minQ ? table[0]! + slopeLow * (q - minQ) : q > maxQ ? table[maxQ - minQ]! + slopeHigh * (q - maxQ) : table[q - minQ]!),
  };
}

/** The slowest option whose quantized time fits within `duration` (the fastest if none does). */
export function optionForDuration(spec: OperationSpec, duration: number): ExecutionOption {
  const { minDuration, maxDuration, options } = spec;
  const table = optionTables.get(spec) ?? buildOptionTable(spec);
  if (duration <= minDuration) return options[table[0]!]!;
  if (duration >= maxDuration) return options[0]!;
  return options[table[duration - minDuration]!]!;
}

const optionTables = new WeakMap<OperationSpec, Int32Array>();
const paretoTables = new WeakMap<OperationSpec, Int32Array>();

/** Index into `spec.pareto` of optionForDuration(spec, duration), from a table built once per spec. */
export function paretoIndexForDuration(spec: OperationSpec, duration: number): number {
  let table = paretoTables.get(spec);
  if (table === undefined) {
    table = new Int32Array(spec.maxDuration - spec.minDuration + 1);
    for (let q = spec.minDuration; q <= spec.maxDuration; q++) {
      const f = optionForDuration(spec, q).frequencyMhz;
      table[q - spec.minDuration] = spec.pareto.findIndex((o) => o.frequencyMhz === f);
    }
    paretoTables.set(spec, table);
  }
  const q = Math.min(spec.maxDuration, Math.max(spec.minDuration, duration));
  return table[q - spec.minDuration]!;
}

function buildOptionTable(spec: OperationSpec): Int32Array {
  const table = new Int32Array(spec.maxDuration - spec.minDuration + 1);
  for (let q = spec.minDuration; q <= spec.maxDuration; q++) {
    // options are slowest first: the first one that fits is the slowest that fits.
    let k = spec.options.findIndex((o) => o.quantTime <= q);
    if (k < 0) k = spec.options.length - 1;
    table[q - spec.minDuration] = k;
  }
  optionTables.set(spec, table);
  return table;
}

/** Tabulates `cost` over [min − 1, max + 1] (the solver probes one step past either end). */
function tabulated(minDuration: number, maxDuration: number, cost: (q: number) => number): (q: number) => number {
  const table = new Float64Array(maxDuration - minDuration + 3);
  for (let q = minDuration - 1; q <= maxDuration + 1; q++) table[q - minDuration + 1] = cost(q);
  return (q) => (q >= minDuration - 1 && q <= maxDuration + 1 ? table[q - minDuration + 1]! : cost(q));
}
