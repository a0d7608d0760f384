// Model-based profiling: from a few measured clocks per computation, fitted time and energy on the GPU's
// whole clock grid (so a plan can be sketched on clocks nobody measured), the clocks such a plan would use
// without a measurement (the next round's targets), and the measured-only profile every real plan uses.
import type { FrequencyPlan, Instruction, ProfileMeasurement, StageProfile } from '../api/planner-types.ts';

/** A row of the model profile: measured, or fitted from the measured rows of its computation. */
export interface ModelRow extends ProfileMeasurement {
  readonly fitted: boolean;
}

/** Clocks to measure next, per stage and instruction (MHz, highest first). */
export type RefinementTargets = ReadonlyMap<number, Readonly<Record<Instruction, readonly number[]>>>;

const key = (stage: number, instruction: Instruction): string => `${stage}/${instruction}`;

/** Measured rows grouped by (stage, instruction), each group sorted by clock ascending; duplicates keep the last. */
function groups(measured: readonly ProfileMeasurement[]): Map<string, ProfileMeasurement[]> {
  const byKey = new Map<string, Map<number, ProfileMeasurement>>();
  for (const m of measured) {
    const k = key(m.stage, m.instruction);
    let g = byKey.get(k);
    if (g === undefined) byKey.set(k, (g = new Map()));
    g.set(m.frequencyMhz, m);
  }
  return new Map([...byKey].map(([k, g]) => [k, [...g.values()].sort((a, b) => a.frequencyMhz - b.frequencyMhz)]));
}

/**
 * Least-squares fit of t(f) = a/f + b (compute scales with 1/f above a memory-bound floor b), a ≥ 0.
 * Returns [a, b].
 */
export function fitInverseClock(points: readonly ProfileMeasurement[]): readonly [number, number] {
  const n = points.length;
  if (n === 1) return [0, points[0]!.timeSeconds];
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    const x = 1 / p.frequencyMhz;
    sx += x;
    sy += p.timeSeconds;
    sxx += x * x;
    sxy += x * p.timeSeconds;
  }
  const den = n * sxx - sx * sx;
  const a = den > 0 ? (n * sxy - sx * sy) / den : 0;
  if (!(a > 0)) return [0, sy / n];
  return [a, (sy - a * sx) / n];
}

/** Linear interpolation of `value` over the sorted points at `f` (inside their range). */
function interpolate(points: readonly ProfileMeasurement[], f: number, value: (p: ProfileMeasurement) => number): number {
  const hi = points.findIndex((p) => p.frequencyMhz >= f);
  if (hi <= 0) return value(points[Math.max(hi, 0)]!);
  const lo = points[hi - 1]!;
  const up = points[hi]!;
  const w = (f - lo.frequencyMhz) / (up.frequencyMhz - lo.frequencyMhz);
  return value(lo) + w * (value(up) - value(lo));
}

/**
 * The model profile on `gridMhz`: every measured row as is, and for every grid clock inside the measured
 * range of a computation that was not measured there, a fitted row. Time follows a/f + b (the residuals at
 * the measured clocks interpolated, so the curve passes through every measurement); power (energy / time)
 * is interpolated between the measured clocks; energy is their product. No extrapolation.
 */
export function fitModelProfile(measured: readonly ProfileMeasurement[], gridMhz: readonly number[]): ModelRow[] {
  const rows: ModelRow[] = [];
  for (const points of groups(measured).values()) {
    const { stage, instruction } = points[0]!;
    const [a, b] = fitInverseClock(points);
    const model = (f: number): number => a / f + b;
    const lo = points[0]!.frequencyMhz;
    const hi = points[points.length - 1]!.frequencyMhz;
    const at = new Map(points.map((p) => [p.frequencyMhz, p]));
    for (const p of points) rows.push({ ...p, fitted: false });
    for (const f of new Set(gridMhz)) {
      if (f < lo || f > hi || at.has(f)) continue;
      const timeSeconds = model(f) + interpolate(points, f, (p) => p.timeSeconds - model(p.frequencyMhz));
      const power = interpolate(points, f, (p) => p.energyJoules / p.timeSeconds);
      if (!(timeSeconds > 0) || !(power > 0)) continue;
      rows.push({ stage, instruction, frequencyMhz: f, timeSeconds, energyJoules: power * timeSeconds, fitted: true });
    }
  }
  return rows.sort((x, y) => x.stage - y.stage || x.instruction.localeCompare(y.instruction) || y.frequencyMhz - x.frequencyMhz);
}

/** The model rows as a stage profile the planner accepts (the fitted flag dropped). */
export function modelAsProfile(rows: readonly ModelRow[], stageCount: number, blockingPowerWatts?: number): StageProfile {
  return {
    stageCount,
    measurements: rows.map(({ stage, instruction, frequencyMhz, timeSeconds, energyJoules }) => ({ stage, instruction, frequencyMhz, timeSeconds, energyJoules })),
    ...(blockingPowerWatts === undefined ? {} : { blockingPowerWatts }),
  };
}

/**
 * What the next round measures, per stage and instruction: the clocks `plan` uses whose rows are only
 * fitted, and the fitted grid clocks up to `neighbours` steps on each side of every clock it uses (measured
 * or not: where a plan runs a computation, a neighbouring clock may measure better than the fit predicts).
 * Empty when neither exists.
 */
export function refinementTargets(plan: FrequencyPlan, model: readonly ModelRow[], neighbours = 0): RefinementTargets {
  const fittedClocks = new Map<string, number[]>();
  for (const r of model) {
    if (!r.fitted) continue;
    const k = key(r.stage, r.instruction);
    const list = fittedClocks.get(k) ?? [];
    list.push(r.frequencyMhz);
    fittedClocks.set(k, list);
  }
  const allClocks = new Map<string, number[]>();
  for (const r of model) {
    const k = key(r.stage, r.instruction);
    const list = allClocks.get(k) ?? [];
    list.push(r.frequencyMhz);
    allClocks.set(k, list);
  }
  for (const list of allClocks.values()) list.sort((x, y) => x - y);
  const wanted = new Map<number, Record<Instruction, Set<number>>>();
  for (const s of plan.stages) {
    for (const c of s.computations) {
      const k = key(s.stage, c.instruction);
      const fitted = fittedClocks.get(k);
      if (fitted === undefined) continue;
      const isFitted = fitted.includes(c.frequencyMhz);
      let entry = wanted.get(s.stage);
      if (entry === undefined) wanted.set(s.stage, (entry = { forward: new Set(), backward: new Set() }));
      if (isFitted) entry[c.instruction].add(c.frequencyMhz);
      const clocks = allClocks.get(k)!;
      const i = clocks.indexOf(c.frequencyMhz);
      for (let d = 1; d <= neighbours; d++) {
        for (const j of [i - d, i + d]) {
          const f = clocks[j];
          if (f !== undefined && fitted.includes(f)) entry[c.instruction].add(f);
        }
      }
    }
  }
  const sorted = (set: Set<number>): number[] => [...set].sort((x, y) => y - x);
  return new Map(
    [...wanted]
      .filter(([, e]) => e.forward.size + e.backward.size > 0)
      .sort((x, y) => x[0] - y[0])
      .map(([stage, e]) => [stage, { forward: sorted(e.forward), backward: sorted(e.backward) }]),
  );
}

/** How many (stage, instruction, clock) rows the targets ask for. */
export function targetCount(targets: RefinementTargets): number {
  let n = 0;
  for (const t of targets.values()) n += t.forward.length + t.backward.length;
  return n;
}
