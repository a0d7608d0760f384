// The Phillips–Dessouky iterative min-cut: from every computation at its slowest option, shorten the
// iteration one unit at a time at the least increase of model cost (max-flow with lower bounds on the
// zero-slack sub-DAG; forward arcs of the min cut speed up, backward arcs slow down), yielding one frontier
// point per step. Generic over the knob: it only sees integer durations and cost functions.
import { CriticalFlow, FP_ERROR, INF_CAPACITY, type ArcBounds } from './critical-flow.ts';
import type { ComputationDag } from './dag.ts';

/** What the solver needs to know of one computation's operation. */
export interface SolverOperation {
  readonly minDuration: number;
  readonly maxDuration: number;
  readonly cost: (duration: number) => number;
}

/** One solver step: the durations changed (+1 slowed, −1 sped up, per computation) and the new totals. */
export interface SolverStep {
  readonly quantTime: number;
  readonly cost: number;
  readonly costChange: number;
  /** Computations sped up by one unit (the solver's buffer: valid until the next step). */
  readonly spedUp: readonly number[];
  /** Computations slowed down by one unit (the solver's buffer: valid until the next step). */
  readonly slowedDown: readonly number[];
}

/** Why the solver stopped. */
export type StopReason = 'infeasible-flow' | 'infinite-cut' | 'no-cost-change' | 'limit';

/** Python's float floor division for positive operands (`x // y`), matching the reference's rounding. */
function pyFloorDiv(x: number, y: number): number {
  const mod = x % y;
  let div = (x - mod) / y;
  if (mod !== 0 && y < 0 !== mod < 0) div -= 1;
  let floor = Math.floor(div);
  if (div - floor > 0.5) floor += 1;
  return floor;
}

function roundToFpError(x: number): number {
  return pyFloorDiv(x, FP_ERROR) * FP_ERROR;
}

/**
 * Lower and upper flow bounds of a computation arc at each duration in [min, max]: the cost of slowing it
 * down by one unit (lb) and of speeding it up by one unit (ub), infinite where it cannot move.
 */
function capacityTable(op: SolverOperation): ArcBounds {
  const size = op.maxDuration - op.minDuration + 1;
  const lbs = new Float64Array(size);
  const ubs = new Float64Array(size);
  for (let d = op.minDuration; d <= op.maxDuration; d++) {
    let lb: number;
    let ub: number;
    if (d === op.minDuration && d === op.maxDuration) {
      lb = 0;
      ub = INF_CAPACITY;
    } else if (d - 1 < op.minDuration) {
      lb = Math.abs(op.cost(d) - op.cost(d + 1));
      ub = INF_CAPACITY;
    } else if (d + 1 > op.maxDuration) {
      lb = 0;
      ub = Math.abs(op.cost(d - 1) - op.cost(d));
    } else {
      lb = Math.abs(op.cost(d) - op.cost(d + 1));
      // In case the cost model is almost linear, give the arc some room.
      ub = Math.abs(op.cost(d - 1) - op.cost(d)) + FP_ERROR;
    }
    lbs[d - op.minDuration] = roundToFpError(lb);
    ubs[d - op.minDuration] = roundToFpError(ub);
  }
  return { lb: lbs, ub: ubs };
}

/** Critical-path state of a duration vector (integer units). */
export interface CriticalPath {
  readonly total: number;
  readonly earliestFinish: Int32Array;
  readonly latestStart: Int32Array;
}

/** Earliest finish / latest start of every computation and the iteration's length, in units. */
export function criticalPath(dag: ComputationDag, duration: Int32Array, out?: { ef: Int32Array; ls: Int32Array }): CriticalPath {
  const { count: n, topoOrder, predStart, pred, succStart, succ } = dag;
  const ef = out?.ef ?? new Int32Array(n);
  const ls = out?.ls ?? new Int32Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const u = topoOrder[k]!;
    let es = 0;
    for (let p = predStart[u]!, end = predStart[u + 1]!; p < end; p++) {
      const f = ef[pred[p]!]!;
      if (f > es) es = f;
    }
    const f = es + duration[u]!;
    ef[u] = f;
    if (f > total) total = f;
  }
  for (let k = n - 1; k >= 0; k--) {
    const u = topoOrder[k]!;
    let lf = total;
    for (let p = succStart[u]!, end = succStart[u + 1]!; p < end; p++) {
      const s = ls[succ[p]!]!;
      if (s < lf) lf = s;
    }
    ls[u] = lf - duration[u]!;
  }
  return { total, earliestFinish: ef, latestStart: ls };
}

/** Flow bounds depend only on an operation and its duration: tabulated once per distinct operation. */
function tabulateBounds(ops: readonly SolverOperation[]): ArcBounds[] {
  const capacityTables = new Map<SolverOperation, ArcBounds>();
  for (const op of ops) if (!capacityTables.has(op)) capacityTables.set(op, capacityTable(op));
  return ops.map((op) => capacityTables.get(op)!);
}

/**
 * Reads the min cut into the computations to speed up (forward arcs) and to slow down (backward arcs);
 * 'infinite-cut' when a forward arc cannot be shortened (or is not a computation) or a backward one lengthened.
 */
function splitCut(
  flow: CriticalFlow,
  ops: readonly SolverOperation[],
  duration: Int32Array,
  spedUp: number[],
  slowedDown: number[],
): StopReason | undefined {
  spedUp.length = 0;
  slowedDown.length = 0;
  for (let k = 0; k < flow.arcCount; k++) {
    if (flow.cutDirection(k) !== 1) continue;
    const i = flow.arcComputation(k);
    if (i < 0 || duration[i]! - 1 < ops[i]!.minDuration) return 'infinite-cut';
    spedUp.push(i);
  }
  for (let k = 0; k < flow.arcCount; k++) {
    if (flow.cutDirection(k) !== -1) continue;
    const i = flow.arcComputation(k);
    if (i < 0) continue;
    if (duration[i]! + 1 > ops[i]!.maxDuration) return 'infinite-cut';
    slowedDown.push(i);
  }
  return undefined;
}

/** splitCut's check for the cut of the previous step on the same network: its arcs can still move one unit. */
function cutStillMovable(ops: readonly SolverOperation[], duration: Int32Array, spedUp: readonly number[], slowedDown: readonly number[]): StopReason | undefined {
  for (const i of spedUp) if (duration[i]! - 1 < ops[i]!.minDuration) return 'infinite-cut';
  for (const i of slowedDown) if (duration[i]! + 1 > ops[i]!.maxDuration) return 'infinite-cut';
  return undefined;
}

/** The model cost added by speeding up `spedUp` and slowing down `slowedDown` by one unit each. */
function cutCostChange(ops: readonly SolverOperation[], duration: Int32Array, spedUp: readonly number[], slowedDown: readonly number[]): number {
  let costChange = 0;
  for (const i of spedUp) {
    const op = ops[i]!;
    const d = duration[i]!;
    costChange += Math.abs(op.cost(d - 1) - op.cost(d));
  }
  for (const i of slowedDown) {
    const op = ops[i]!;
    const d = duration[i]!;
    costChange -= Math.abs(op.cost(d) - op.cost(d + 1));
  }
  return costChange;
}

/**
 * Runs the solver from `duration` (modified in place), yielding after each unit step. `ops[i]` is the
 * operation of computation i. Stops when the flow is infeasible, the min cut crosses an arc that cannot
 * be shortened, or the cost no longer changes.
 */
export function* phillipsDessouky(
  dag: ComputationDag,
  ops: readonly SolverOperation[],
  duration: Int32Array,
): Generator<SolverStep, StopReason, void> {
  const n = dag.count;
  const flow = new CriticalFlow(dag);
  const buffers = { ef: new Int32Array(n), ls: new Int32Array(n) };
  const boundsOf = tabulateBounds(ops);
  const spedUp: number[] = [];
  const slowedDown: number[] = [];

  // Each computation's model cost at its current duration; only the changed ones are re-evaluated per step
  // (the total is still summed in index order, so it is the same float as summing the cost calls).
  const costOf = new Float64Array(n);
  for (let i = 0; i < n; i++) costOf[i] = ops[i]!.cost(duration[i]!);

  let cp = criticalPath(dag, duration, buffers);
  // Between hull vertices the exact model's costs are linear, so consecutive steps often see the very same
  // network (same critical arcs, same bounds): its max flow and min cut are then those just found.
  let sameNetwork = false;
  for (;;) {
    if (!sameNetwork) {
      flow.build(dag, ops, boundsOf, duration, cp);
      if (!flow.solveMinCut()) return 'infeasible-flow';
    }
    // Shorten forward arcs of the cut, lengthen backward arcs.
    const stop = sameNetwork ? cutStillMovable(ops, duration, spedUp, slowedDown) : splitCut(flow, ops, duration, spedUp, slowedDown);
    if (stop !== undefined) return stop;
    if (spedUp.length === 0) return 'no-cost-change';
    const costChange = cutCostChange(ops, duration, spedUp, slowedDown);
    if (Math.abs(costChange) < FP_ERROR) return 'no-cost-change';
    for (const i of spedUp) costOf[i] = ops[i]!.cost(--duration[i]!);
    for (const i of slowedDown) costOf[i] = ops[i]!.cost(++duration[i]!);
    cp = criticalPath(dag, duration, buffers);
    sameNetwork = flow.sameNetwork(dag, ops, boundsOf, duration, cp);
    let cost = 0;
    for (let i = 0; i < n; i++) cost += costOf[i]!;
    yield { quantTime: cp.total, cost, costChange, spedUp, slowedDown };
  }
}
