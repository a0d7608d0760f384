// The solver's flow network over the zero-slack (critical) sub-DAG: arcs with lower and upper flow bounds,
// a feasible flow meeting the lower bounds (phase 1), then a max flow and its min cut (phase 2). Reused
// across solver steps and warm-started from the previous step's flow.
import type { ComputationDag } from './dag.ts';
import { FlowNetwork } from './maxflow.ts';

/** Flows and residuals below this are zero: the reference's rounding tolerance. */
export const FP_ERROR = 1e-6;
/** The upper bound of an arc that may carry any flow (dependency, source and sink arcs). */
export const INF_CAPACITY = 10000;
const BIG = 1e30;
const IMBALANCE_NOISE = 1e-9;

/** Arc kinds; each keeps its warm-start flow in its own array, indexed as noted. */
const COMPUTATION_ARC = 0; // index = computation
const DEPENDENCY_ARC = 1; // index = CSR position in dag.succ
const SOURCE_ARC = 2; // index = computation
const SINK_ARC = 3; // index = computation

/** Lower and upper flow bounds of one computation arc, per duration from its minimum. */
export interface ArcBounds {
  readonly lb: Float64Array;
  readonly ub: Float64Array;
}

function growInt32(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/**
 * The critical sub-DAG as a flow network: computation i is the arc 2i → 2i+1, a dependency i → j the arc
 * 2i+1 → 2j; a source and a sink close it. Per critical arc k (numbered in insertion order, flow edge 2k)
 * it remembers its computation and end points, so that the min cut can be read back as computations.
 */
export class CriticalFlow {
  private readonly n: number;
  private readonly depEdges: number;
  private readonly src: number;
  private readonly snk: number;
  private readonly superSrc: number;
  private readonly superSnk: number;
  private readonly nodeCount: number;
  private readonly net: FlowNetwork;
  private readonly excess: Float64Array;
  private readonly reach: Uint8Array;
  /** Number of critical arcs in the current network. */
  arcCount = 0;
  // Per critical arc: the computation it belongs to (computation arcs), or −1 for dependency/source/sink arcs.
  private edgeOp: Int32Array = new Int32Array(16);
  private edgeFrom: Int32Array = new Int32Array(16);
  private edgeTo: Int32Array = new Int32Array(16);
  private edgeKind: Int32Array = new Int32Array(16);
  private edgeLb: Float64Array = new Float64Array(16);
  private edgeUb: Float64Array = new Float64Array(16);
  // Warm start: the previous iteration's flow per edge identity (computation arcs, dependency arcs by CSR
  // index, source and sink arcs by computation). Consecutive critical DAGs differ little, so starting from
  // the previous flow leaves only a small imbalance to route; the min cut found is the same.
  private readonly opFlow: Float64Array;
  private readonly depFlow: Float64Array;
  private readonly srcFlow: Float64Array;
  private readonly snkFlow: Float64Array;
  private previousTotal = 0;

  constructor(dag: ComputationDag) {
    const n = dag.count;
    this.n = n;
    this.depEdges = dag.succ.length;
    this.src = 2 * n;
    this.snk = 2 * n + 1;
    this.superSrc = 2 * n + 2;
    this.superSnk = 2 * n + 3;
    this.nodeCount = 2 * n + 4;
    this.net = new FlowNetwork(this.nodeCount, 2 * n + this.depEdges + 2 * n + this.nodeCount + 1);
    this.excess = new Float64Array(this.nodeCount);
    this.reach = new Uint8Array(this.nodeCount);
    this.opFlow = new Float64Array(n);
    this.depFlow = new Float64Array(this.depEdges);
    this.srcFlow = new Float64Array(n);
    this.snkFlow = new Float64Array(n);
  }

  /**
   * Rebuilds the network from the arcs without slack at `duration` (whose critical path is `path`);
   * computation i's bounds are `boundsOf[i]` at `duration[i] − ops[i].minDuration`.
   */
  build(
    dag: ComputationDag,
    ops: readonly { readonly minDuration: number }[],
    boundsOf: readonly ArcBounds[],
    duration: Int32Array,
    path: { readonly total: number; readonly earliestFinish: Int32Array; readonly latestStart: Int32Array },
  ): void {
    this.net.reset(this.nodeCount);
    this.excess.fill(0);
    this.arcCount = 0;
    const { src, snk } = this;
    const { total, earliestFinish: ef, latestStart: ls } = path;
    for (let i = 0; i < this.n; i++) {
      const d = duration[i]!;
      const es = ef[i]! - d;
      // Computation arc: critical when it has no slack.
      if (es === ls[i]) {
        const bounds = boundsOf[i]!;
        const at = d - ops[i]!.minDuration;
        this.addArc(2 * i, 2 * i + 1, i, bounds.lb[at]!, bounds.ub[at]!, COMPUTATION_ARC, i);
      }
      if (ls[i] === 0 && dag.predStart[i] === dag.predStart[i + 1]) this.addArc(src, 2 * i, -1, 0, INF_CAPACITY, SOURCE_ARC, i);
      if (ef[i] === total && dag.succStart[i] === dag.succStart[i + 1]) this.addArc(2 * i + 1, snk, -1, 0, INF_CAPACITY, SINK_ARC, i);
      for (let p = dag.succStart[i]!; p < dag.succStart[i + 1]!; p++) {
        const j = dag.succ[p]!;
        if (ef[i] === ls[j]) this.addArc(2 * i + 1, 2 * j, -1, 0, INF_CAPACITY, DEPENDENCY_ARC, p);
      }
    }
  }

  /**
   * Whether `build` would rebuild exactly the current network (the same critical arcs in the same order,
   * with the same bounds) at `duration`. Then the flow just solved is still a maximum flow and its min cut
   * still a minimum cut, so the solver takes the same step again without solving. Read-only.
   */
  sameNetwork(
    dag: ComputationDag,
    ops: readonly { readonly minDuration: number }[],
    boundsOf: readonly ArcBounds[],
    duration: Int32Array,
    path: { readonly total: number; readonly earliestFinish: Int32Array; readonly latestStart: Int32Array },
  ): boolean {
    const { edgeFrom, edgeTo, edgeLb, edgeUb } = this;
    const { total, earliestFinish: ef, latestStart: ls } = path;
    const count = this.arcCount;
    const { succStart, succ, predStart } = dag;
    // Arcs are compared in build's order; an arc is identified by its end points.
    let k = 0;
    for (let i = 0; i < this.n; i++) {
      const d = duration[i]!;
      const efi = ef[i]!;
      if (efi - d === ls[i]) {
        const bounds = boundsOf[i]!;
        const at = d - ops[i]!.minDuration;
        if (k >= count || edgeFrom[k] !== 2 * i || edgeTo[k] !== 2 * i + 1 || edgeLb[k] !== bounds.lb[at] || edgeUb[k] !== bounds.ub[at]) return false;
        k++;
      }
      if (ls[i] === 0 && predStart[i] === predStart[i + 1]) {
        if (k >= count || edgeFrom[k] !== this.src || edgeTo[k] !== 2 * i) return false;
        k++;
      }
      const first = succStart[i]!;
      const last = succStart[i + 1]!;
      if (efi === total && first === last) {
        if (k >= count || edgeFrom[k] !== 2 * i + 1 || edgeTo[k] !== this.snk) return false;
        k++;
      }
      for (let p = first; p < last; p++) {
        const j = succ[p]!;
        if (efi !== ls[j]) continue;
        if (k >= count || edgeFrom[k] !== 2 * i + 1 || edgeTo[k] !== 2 * j) return false;
        k++;
      }
    }
    return k === count;
  }

  /** Adds u → v with bounds [lb, ub], starting at its remembered flow clamped to the bounds. */
  private addArc(u: number, v: number, op: number, lb: number, ub: number, kind: number, index: number): void {
    const k = this.arcCount;
    if (k >= this.edgeOp.length) this.growArcs();
    const { n, depEdges } = this;
    const memory = kind === COMPUTATION_ARC ? this.opFlow : kind === DEPENDENCY_ARC ? this.depFlow : kind === SOURCE_ARC ? this.srcFlow : this.snkFlow;
    const f = Math.min(ub, Math.max(lb, memory[index]!));
    const e = this.net.addEdge(u, v, ub - f);
    this.net.cap[e + 1] = f - lb;
    if (e !== k * 2) throw new Error('internal: flow edge numbering');
    this.edgeOp[k] = op;
    this.edgeFrom[k] = u;
    this.edgeTo[k] = v;
    this.edgeKind[k] =
      kind === COMPUTATION_ARC ? op : kind === DEPENDENCY_ARC ? n + index : kind === SOURCE_ARC ? n + depEdges + index : n + depEdges + n + index;
    this.edgeLb[k] = lb;
    this.edgeUb[k] = ub;
    this.excess[v]! += f;
    this.excess[u]! -= f;
    this.arcCount = k + 1;
  }

  private growArcs(): void {
    this.edgeOp = growInt32(this.edgeOp);
    this.edgeFrom = growInt32(this.edgeFrom);
    this.edgeTo = growInt32(this.edgeTo);
    this.edgeKind = growInt32(this.edgeKind);
    const lbs = new Float64Array(this.edgeLb.length * 2);
    lbs.set(this.edgeLb);
    this.edgeLb = lbs;
    const ubs = new Float64Array(this.edgeUb.length * 2);
    ubs.set(this.edgeUb);
    this.edgeUb = ubs;
  }

  /**
   * Phase 1 then phase 2 on the network just built: false when no flow meets the lower bounds; otherwise
   * leaves the min cut readable through `cutDirection` and remembers the flow for the next step.
   */
  solveMinCut(): boolean {
    if (!this.findFeasibleFlow()) return false;
    this.findMaxFlow();
    this.rememberFlow();
    return true;
  }

  /** Phase 1: a feasible flow meeting the lower bounds (circulation through t → s, imbalances routed S′ → T′). */
  private findFeasibleFlow(): boolean {
    const { net, excess, src, snk, superSrc, superSnk, previousTotal } = this;
    const backEdge = net.addEdge(snk, src, BIG - previousTotal);
    net.cap[backEdge + 1] = previousTotal;
    excess[src]! += previousTotal;
    excess[snk]! -= previousTotal;
    let demand = 0;
    for (let v = 0; v < 2 * this.n + 2; v++) {
      const x = excess[v]!;
      // Imbalances far below the solver's tolerance are float noise left by the residual rounding.
      if (x > IMBALANCE_NOISE) {
        net.addEdge(superSrc, v, x);
        demand += x;
      } else if (x < -IMBALANCE_NOISE) net.addEdge(v, superSnk, -x);
    }
    if (demand > 0) net.maxFlow(superSrc, superSnk, 0);
    for (let e = backEdge + 2; e < net.edgeCount; e += 2) {
      if (net.to[e + 1] === superSrc && net.cap[e]! > FP_ERROR) return false;
      if (net.to[e] === superSnk && net.cap[e]! > FP_ERROR) return false;
    }
    return true;
  }

  /** Phase 2: drop the helper arcs, round residuals as the reference does, push s → t and mark the source side. */
  private findMaxFlow(): void {
    const { net } = this;
    // Flow edges 2k, 2k+1 are critical arc k; the helper arcs (t → s first) follow them.
    const arcEdges = this.arcCount * 2;
    for (let e = arcEdges; e < net.edgeCount; e++) net.cap[e] = 0;
    for (let e = 0; e < arcEdges; e++) if (Math.abs(net.cap[e]!) < FP_ERROR) net.cap[e] = 0;
    net.maxFlow(this.src, this.snk, 0);
    net.reachable(this.src, FP_ERROR, this.reach);
  }

  /** Keeps each arc's flow (and the total out of the source) as the next step's warm start. */
  private rememberFlow(): void {
    const { n, depEdges, net, edgeKind, edgeLb } = this;
    this.opFlow.fill(0);
    this.depFlow.fill(0);
    this.srcFlow.fill(0);
    this.snkFlow.fill(0);
    let previousTotal = 0;
    for (let k = 0; k < this.arcCount; k++) {
      const key = edgeKind[k]!;
      const f = edgeLb[k]! + net.cap[2 * k + 1]!;
      if (key < n) this.opFlow[key] = f;
      else if (key < n + depEdges) this.depFlow[key - n] = f;
      else if (key < n + depEdges + n) {
        this.srcFlow[key - n - depEdges] = f;
        previousTotal += f;
      } else this.snkFlow[key - n - depEdges - n] = f;
    }
    this.previousTotal = previousTotal;
  }

  /** How critical arc k crosses the min cut: 1 forward (source side → sink side), −1 backward, 0 not at all. */
  cutDirection(k: number): 1 | -1 | 0 {
    const inS = this.reach[this.edgeFrom[k]!] === 1;
    const toS = this.reach[this.edgeTo[k]!] === 1;
    return inS && !toS ? 1 : !inS && toS ? -1 : 0;
  }

  /** The computation of critical arc k, or −1 for a dependency, source or sink arc. */
  arcComputation(k: number): number {
    return this.edgeOp[k]!;
  }
}
