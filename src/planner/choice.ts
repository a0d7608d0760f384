// A choice of Pareto option per computation, and what the frontier does with one: read it off the solver's
// durations, hand remaining true slack back, measure its true time and energy, fit it to a target time,
// and write it as a FrequencyPlan. The options are flattened into typed arrays: this runs once per point.
import type { FrequencyPlan, FrontierPoint } from '../api/planner-types.ts';
import { paretoIndexForDuration } from './options.ts';
import type { PlanningProblem } from './problem.ts';

/** True iteration time and energy of a choice. */
export interface ChoiceMetrics {
  readonly timeSeconds: number;
  readonly energyJoules: number;
}

/** The Pareto options of every computation in flat arrays, with scratch space for one pass at a time. */
export class ChoiceTables {
  private readonly n: number;
  /** Index into the option arrays of each computation's slowest Pareto option. */
  private readonly first: Int32Array;
  /** Number of Pareto options of each computation. */
  private readonly size: Int32Array;
  private readonly time: Float64Array;
  private readonly energy: Float64Array;
  /** Per computation: offset into `indexOf` of duration minDuration, and the duration bounds. */
  private readonly indexStart: Int32Array;
  private readonly minDuration: Int32Array;
  private readonly maxDuration: Int32Array;
  private readonly indexOf: Int32Array;
  private readonly finish: Float64Array;
  private readonly latestStart: Float64Array;
  /** True time with every computation at its fastest option (s), computed on first use. */
  private fastestSeconds: number | undefined;

  constructor(private readonly problem: PlanningProblem) {
    const { dag, specs, specOf } = problem;
    const n = dag.count;
    this.n = n;
    const optionStart: number[] = [];
    const tableStart: number[] = [];
    let options = 0;
    let table = 0;
    for (const spec of specs) {
      optionStart.push(options);
      tableStart.push(table);
      options += spec.pareto.length;
      table += spec.maxDuration - spec.minDuration + 1;
    }
    this.time = new Float64Array(options);
    this.energy = new Float64Array(options);
    this.indexOf = new Int32Array(table);
    specs.forEach((spec, k) => {
      spec.pareto.forEach((o, j) => {
        this.time[optionStart[k]! + j] = o.timeSeconds;
        this.energy[optionStart[k]! + j] = o.energyJoules;
      });
      for (let q = spec.minDuration; q <= spec.maxDuration; q++) this.indexOf[tableStart[k]! + q - spec.minDuration] = paretoIndexForDuration(spec, q);
    });
    this.first = Int32Array.from(specOf, (k) => optionStart[k]!);
    this.size = Int32Array.from(specOf, (k) => specs[k]!.pareto.length);
    this.indexStart = Int32Array.from(specOf, (k) => tableStart[k]!);
    this.minDuration = Int32Array.from(specOf, (k) => specs[k]!.minDuration);
    this.maxDuration = Int32Array.from(specOf, (k) => specs[k]!.maxDuration);
    this.finish = new Float64Array(n);
    this.latestStart = new Float64Array(n);
  }

  /** Pareto-option index of each computation at `duration` (the slowest option that fits), into `out`. */
  fromDurations(duration: Int32Array, out = new Int32Array(this.n)): Int32Array {
    const { minDuration, maxDuration, indexStart, indexOf } = this;
    for (let i = 0; i < this.n; i++) {
      const lo = minDuration[i]!;
      const d = duration[i]!;
      const q = d < lo ? lo : d > maxDuration[i]! ? maxDuration[i]! : d;
      out[i] = indexOf[indexStart[i]! + q - lo]!;
    }
    return out;
  }

  /**
   * Exact model: the quantized durations leave true slack (each computation runs up to a unit faster than
   * planned). One reverse-topological pass gives every computation the slowest Pareto option that still
   * finishes by its latest finish under `deadline`, so the plan stays within its target and spends less.
   * With `duration`, the choice is first read off the durations (as fromDurations).
   */
  reclaimSlack(choice: Int32Array, deadline: number, duration?: Int32Array): void {
    const { topoOrder, predStart, pred, succStart, succ } = this.problem.dag;
    const { time, first, finish: ef, latestStart: ls, minDuration, maxDuration, indexStart, indexOf } = this;
    const n = this.n;
    for (let k = 0; k < n; k++) {
      const u = topoOrder[k]!;
      if (duration !== undefined) {
        // fromDurations, fused into this pass.
        const lo = minDuration[u]!;
        const d = duration[u]!;
        choice[u] = indexOf[indexStart[u]! + (d < lo ? lo : d > maxDuration[u]! ? maxDuration[u]! : d) - lo]!;
      }
      let es = 0;
      for (let p = predStart[u]!, end = predStart[u + 1]!; p < end; p++) {
        const f = ef[pred[p]!]!;
        if (f > es) es = f;
      }
      ef[u] = es + time[first[u]! + choice[u]!]!;
    }
    for (let k = n - 1; k >= 0; k--) {
      const u = topoOrder[k]!;
      let lf = deadline;
      for (let p = succStart[u]!, end = succStart[u + 1]!; p < end; p++) {
        const s = ls[succ[p]!]!;
        if (s < lf) lf = s;
      }
      const base = first[u]!;
      let c = choice[u]!;
      const es = ef[u]! - time[base + c]!;
      // Options are slowest first: a lower index is slower and cheaper.
      while (c > 0 && es + time[base + c - 1]! <= lf + 1e-12) c--;
      choice[u] = c;
      ls[u] = lf - time[base + c]!;
    }
  }

  /** True time (longest path with measured times) and energy (plus blocking power while waiting) of a choice. */
  metrics(choice: Int32Array, blockingPowerWatts: number): ChoiceMetrics {
    const { topoOrder, predStart, pred, stageCount } = this.problem.dag;
    const { time, energy: optionEnergy, first, finish } = this;
    const n = this.n;
    let energy = 0;
    let busy = 0;
    for (let i = 0; i < n; i++) {
      const o = first[i]! + choice[i]!;
      energy += optionEnergy[o]!;
      busy += time[o]!;
    }
    let total = 0;
    for (let k = 0; k < n; k++) {
      const u = topoOrder[k]!;
      let start = 0;
      for (let p = predStart[u]!, end = predStart[u + 1]!; p < end; p++) {
        const f = finish[pred[p]!]!;
        if (f > start) start = f;
      }
      const f = start + time[first[u]! + choice[u]!]!;
      finish[u] = f;
      if (f > total) total = f;
    }
    return { timeSeconds: total, energyJoules: energy + blockingPowerWatts * (stageCount * total - busy) };
  }

  /** Speeds up true-critical computations one option at a time until the true time fits `target`. */
  fitToTarget(choice: Int32Array, target: number, blockingPowerWatts: number): ChoiceMetrics | undefined {
    const { dag } = this.problem;
    const { time, energy: optionEnergy, first, size } = this;
    const n = this.n;
    // No choice is faster than every computation at its fastest option: below that, give up at once
    // instead of speeding up every computation first (the fastest plan's lookup asks for time 0).
    if (this.fastestSeconds === undefined) this.fastestSeconds = this.metrics(Int32Array.from(size, (k) => k - 1), 0).timeSeconds;
    if (this.fastestSeconds > target + 1e-9) return undefined;
    const t = new Float64Array(n);
    const ef = this.finish;
    const lf = this.latestStart;
    for (let guard = 0; guard < 100 * n; guard++) {
      let energy = 0;
      let busy = 0;
      for (let i = 0; i < n; i++) {
        const o = first[i]! + choice[i]!;
        t[i] = time[o]!;
        energy += optionEnergy[o]!;
        busy += time[o]!;
      }
      const total = this.schedule(t, ef, lf);
      if (total <= target + 1e-9) return { timeSeconds: total, energyJoules: energy + blockingPowerWatts * (dag.stageCount * total - busy) };
      let best = -1;
      let bestRatio = Infinity;
      for (let i = 0; i < n; i++) {
        if (Math.abs(lf[i]! - ef[i]!) > 1e-12 * total) continue;
        const k = choice[i]!;
        if (k + 1 >= size[i]!) continue;
        const o = first[i]! + k;
        const dt = time[o]! - time[o + 1]!;
        if (dt <= 0) continue;
        const ratio = (optionEnergy[o + 1]! - optionEnergy[o]!) / dt;
        if (ratio < bestRatio) {
          bestRatio = ratio;
          best = i;
        }
      }
      if (best < 0) return undefined;
      choice[best]!++;
    }
    return undefined;
  }

  /** scheduleTimes into this object's buffers: earliest and latest finish under the iteration's length, returned. */
  private schedule(duration: Float64Array, ef: Float64Array, lf: Float64Array): number {
    const { topoOrder, predStart, pred, succStart, succ } = this.problem.dag;
    const n = this.n;
    let total = 0;
    for (let k = 0; k < n; k++) {
      const u = topoOrder[k]!;
      let es = 0;
      for (let p = predStart[u]!, end = predStart[u + 1]!; p < end; p++) es = Math.max(es, ef[pred[p]!]!);
      ef[u] = es + duration[u]!;
      total = Math.max(total, ef[u]!);
    }
    for (let k = n - 1; k >= 0; k--) {
      const u = topoOrder[k]!;
      let f = total;
      for (let p = succStart[u]!, end = succStart[u + 1]!; p < end; p++) f = Math.min(f, lf[succ[p]!]! - duration[succ[p]!]!);
      lf[u] = f;
    }
    return total;
  }

  /** The FrequencyPlan of a choice, labelled with `point`'s model time and energy. */
  plan(choice: Int32Array, point: FrontierPoint): FrequencyPlan {
    const { dag, specs, specOf } = this.problem;
    return {
      granularity: 'Instruction',
      modelTimeSeconds: point.timeSeconds,
      modelEnergyJoules: point.energyJoules,
      stages: dag.stageOrder.map((order, stage) => ({
        stage,
        computations: Array.from(order, (i) => ({
          instruction: dag.instruction[i] === 0 ? ('forward' as const) : ('backward' as const),
          microbatch: dag.microbatch[i]!,
          chunk: dag.chunk[i]!,
          frequencyMhz: specs[specOf[i]!]!.pareto[choice[i]!]!.frequencyMhz,
        })),
      })),
    };
  }
}
