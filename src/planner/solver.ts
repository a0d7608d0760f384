// The Phillips–Dessouky iterative min-cut: from every computation at its slowest option, shorten the
// iteration one unit at a time at the least increase of model cost (max-flow with lower bounds on the
// zero-slack sub-DAG; forward arcs of the min cut speed up, backward arcs slow down), yielding one frontier
// point per step. Generic over the knob: it only sees integer durations and cost functions.
import type { ComputationDag } from './dag.ts';
import { FlowNetwork } from './maxflow.ts';

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
  /** Computations sped up by one unit. */
  readonly spedUp: Int32Array;
  /** Computations slowed down by one unit. */
  readonly slowedDown: Int32Array;
}

/** Why the solver stopped. */
export type StopReason = 'infeasible-flow' | 'infinite-cut' | 'no-cost-change' | 'limit';

const FP_ERROR = 1e-6;
const INF_CAPACITY = 10000;
const BIG = 1e30;
const IMBALANCE_NOISE = 1e-9;

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
function capacityTable(op: SolverOperation): { lb: Float64Array; ub: Float64Array } {
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
  const n = dag.count;
  const ef = out?.ef ?? new Int32Array(n);
  const ls = out?.ls ?? new Int32Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const u = dag.topoOrder[k]!;
    let es = 0;
    for (let p = dag.predStart[u]!; p < dag.predStart[u + 1]!; p++) {
      const f = ef[dag.pred[p]!]!;
      if (f > es) es = f;
    }
    const f = es + duration[u]!;
    ef[u] = f;
    if (f > total) total = f;
  }
  for (let k = n - 1; k >= 0; k--) {
    const u = dag.topoOrder[k]!;
    let lf = total;
    for (let p = dag.succStart[u]!; p < dag.succStart[u + 1]!; p++) {
      const s = ls[dag.succ[p]!]!;
      if (s < lf) lf = s;
    }
    ls[u] = lf - duration[u]!;
  }
  return { total, earliestFinish: ef, latestStart: ls };
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
  const SRC = 2 * n;
  const SNK = 2 * n + 1;
  const SP = 2 * n + 2;
  const TP = 2 * n + 3;
  const nodeCount = 2 * n + 4;
  const depEdges = dag.succ.length;
  const net = new FlowNetwork(nodeCount, 2 * n + depEdges + 2 * n + nodeCount + 1);
  const excess = new Float64Array(nodeCount);
  const reach = new Uint8Array(nodeCount);
  const buffers = { ef: new Int32Array(n), ls: new Int32Array(n) };
  // Per flow edge: the computation it belongs to (op edges), or −1 for dependency/source/sink arcs.
  let edgeOp: Int32Array = new Int32Array(16);
  let edgeFrom: Int32Array = new Int32Array(16);
  let edgeTo: Int32Array = new Int32Array(16);
  const spedUp: number[] = [];
  const slowedDown: number[] = [];
  // Warm start: the previous iteration's flow per edge identity (computation arcs, dependency arcs by CSR
  // index, source and sink arcs by computation). Consecutive critical DAGs differ little, so starting from
  // the previous flow leaves only a small imbalance to route; the min cut found is the same.
  const opFlow = new Float64Array(n);
  const depFlow = new Float64Array(depEdges);
  const srcFlow = new Float64Array(n);
  const snkFlow = new Float64Array(n);
  let edgeKind: Int32Array = new Int32Array(16);
  let edgeLb: Float64Array = new Float64Array(16);
  let previousTotal = 0;

  // Flow bounds depend only on an operation and its duration: tabulated once per operation.
  const capacityTables = new Map<SolverOperation, { lb: Float64Array; ub: Float64Array }>();
  for (const op of ops) if (!capacityTables.has(op)) capacityTables.set(op, capacityTable(op));
  const boundsOf = ops.map((op) => capacityTables.get(op)!);

  // Each computation's model cost at its current duration; only the changed ones are re-evaluated per step
  // (the total is still summed in index order, so it is the same float as summing the cost calls).
  const costOf = new Float64Array(n);
  for (let i = 0; i < n; i++) costOf[i] = ops[i]!.cost(duration[i]!);

  let cp = criticalPath(dag, duration, buffers);
  for (;;) {
    net.reset(nodeCount);
    excess.fill(0);
    let critical = 0;
    // kind: 0 computation arc (index = op), 1 dependency arc (index = CSR position), 2 source arc, 3 sink arc.
    const addCritical = (u: number, v: number, op: number, lb: number, ub: number, kind: number, index: number): void => {
      if (critical >= edgeOp.length) {
        const grow = (a: Int32Array): Int32Array => {
          const b = new Int32Array(a.length * 2);
          b.set(a);
          return b;
        };
        edgeOp = grow(edgeOp);
        edgeFrom = grow(edgeFrom);
        edgeTo = grow(edgeTo);
        edgeKind = grow(edgeKind);
        const lbs = new Float64Array(edgeLb.length * 2);
        lbs.set(edgeLb);
        edgeLb = lbs;
      }
      const memory = kind === 0 ? opFlow : kind === 1 ? depFlow : kind === 2 ? srcFlow : snkFlow;
      const f = Math.min(ub, Math.max(lb, memory[index]!));
      const e = net.addEdge(u, v, ub - f);
      net.cap[e + 1] = f - lb;
      if (e !== critical * 2) throw new Error('internal: flow edge numbering');
      edgeOp[critical] = op;
      edgeFrom[critical] = u;
      edgeTo[critical] = v;
      edgeKind[critical] = kind === 0 ? op : kind === 1 ? n + index : kind === 2 ? n + depEdges + index : n + depEdges + n + index;
      edgeLb[critical] = lb;
      excess[v]! += f;
      excess[u]! -= f;
      critical++;
    };
    const { total, earliestFinish: ef, latestStart: ls } = cp;
    for (let i = 0; i < n; i++) {
      const d = duration[i]!;
      const es = ef[i]! - d;
      // Computation arc: critical when it has no slack.
      if (es === ls[i]) {
        const op = ops[i]!;
        const bounds = boundsOf[i]!;
        addCritical(2 * i, 2 * i + 1, i, bounds.lb[d - op.minDuration]!, bounds.ub[d - op.minDuration]!, 0, i);
      }
      if (ls[i] === 0 && dag.predStart[i] === dag.predStart[i + 1]) addCritical(SRC, 2 * i, -1, 0, INF_CAPACITY, 2, i);
      if (ef[i] === total && dag.succStart[i] === dag.succStart[i + 1]) addCritical(2 * i + 1, SNK, -1, 0, INF_CAPACITY, 3, i);
      for (let p = dag.succStart[i]!; p < dag.succStart[i + 1]!; p++) {
        const j = dag.succ[p]!;
        if (ef[i] === ls[j]) addCritical(2 * i + 1, 2 * j, -1, 0, INF_CAPACITY, 1, p);
      }
    }
    const originalEdges = critical * 2;

    // Phase 1: a feasible flow meeting the lower bounds (circulation through t → s).
    const backEdge = net.addEdge(SNK, SRC, BIG - previousTotal);
    net.cap[backEdge + 1] = previousTotal;
    excess[SRC]! += previousTotal;
    excess[SNK]! -= previousTotal;
    let demand = 0;
    for (let v = 0; v < 2 * n + 2; v++) {
      const x = excess[v]!;
      // Imbalances far below the solver's tolerance are float noise left by the residual rounding.
      if (x > IMBALANCE_NOISE) {
        net.addEdge(SP, v, x);
        demand += x;
      } else if (x < -IMBALANCE_NOISE) net.addEdge(v, TP, -x);
    }
    if (demand > 0) net.maxFlow(SP, TP, 0);
    for (let e = backEdge + 2; e < net.edgeCount; e += 2) {
      if (net.to[e + 1] === SP && net.cap[e]! > FP_ERROR) return 'infeasible-flow';
      if (net.to[e] === TP && net.cap[e]! > FP_ERROR) return 'infeasible-flow';
    }
    // Phase 2: drop the helper arcs, round residuals as the reference does, and push s → t.
    for (let e = backEdge; e < net.edgeCount; e++) net.cap[e] = 0;
    for (let e = 0; e < originalEdges; e++) if (Math.abs(net.cap[e]!) < FP_ERROR) net.cap[e] = 0;
    net.maxFlow(SRC, SNK, 0);
    net.reachable(SRC, FP_ERROR, reach);
    opFlow.fill(0);
    depFlow.fill(0);
    srcFlow.fill(0);
    snkFlow.fill(0);
    previousTotal = 0;
    for (let k = 0; k < critical; k++) {
      const key = edgeKind[k]!;
      const f = edgeLb[k]! + net.cap[2 * k + 1]!;
      if (key < n) opFlow[key] = f;
      else if (key < n + depEdges) depFlow[key - n] = f;
      else if (key < n + depEdges + n) {
        srcFlow[key - n - depEdges] = f;
        previousTotal += f;
      } else snkFlow[key - n - depEdges - n] = f;
    }

    // Shorten forward arcs of the cut, lengthen backward arcs.
    spedUp.length = 0;
    slowedDown.length = 0;
    let costChange = 0;
    let stop: StopReason | undefined;
    for (let k = 0; k < critical && stop === undefined; k++) {
      const inS = reach[edgeFrom[k]!] === 1;
      const toS = reach[edgeTo[k]!] === 1;
      if (inS && !toS) {
        const i = edgeOp[k]!;
        if (i < 0 || duration[i]! - 1 < ops[i]!.minDuration) stop = 'infinite-cut';
        else spedUp.push(i);
      }
    }
    for (let k = 0; k < critical && stop === undefined; k++) {
      const inS = reach[edgeFrom[k]!] === 1;
      const toS = reach[edgeTo[k]!] === 1;
      if (!inS && toS) {
        const i = edgeOp[k]!;
        if (i < 0) continue;
        if (duration[i]! + 1 > ops[i]!.maxDuration) stop = 'infinite-cut';
        else slowedDown.push(i);
      }
    }
    if (stop !== undefined) return stop;
    if (spedUp.length === 0) return 'no-cost-change';
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
    if (Math.abs(costChange) < FP_ERROR) return 'no-cost-change';
    for (const i of spedUp) costOf[i] = ops[i]!.cost(--duration[i]!);
    for (const i of slowedDown) costOf[i] = ops[i]!.cost(++duration[i]!);
    cp = criticalPath(dag, duration, buffers);
    let cost = 0;
    for (let i = 0; i < n; i++) cost += costOf[i]!;
    yield { quantTime: cp.total, cost, costChange, spedUp: Int32Array.from(spedUp), slowedDown: Int32Array.from(slowedDown) };
  }
}
