// The computation DAG of one pipeline iteration: one node per computation (stage × instruction × micro-batch
// × chunk), edges for the stage's execution order and for activations/gradients crossing stages. Flat typed
// arrays (CSR adjacency) because the solver walks it thousands of times.
import type { Instruction, PipelineSpec } from '../api/planner-types.ts';
import { INSTRUCTIONS } from '../api/planner-types.ts';
import type { PlannerIssue, Result } from './result.ts';
import { fail, ok } from './result.ts';

export const FORWARD = 0;
export const BACKWARD = 1;

/** A DAG of computations with CSR successor/predecessor lists and a topological order. */
export interface ComputationDag {
  readonly count: number;
  readonly stageCount: number;
  readonly stage: Int32Array;
  /** 0 = forward, 1 = backward. */
  readonly instruction: Uint8Array;
  readonly microbatch: Int32Array;
  readonly chunk: Int32Array;
  readonly succStart: Int32Array;
  readonly succ: Int32Array;
  readonly predStart: Int32Array;
  readonly pred: Int32Array;
  readonly topoOrder: Int32Array;
  /** Per stage, its computations in execution order. */
  readonly stageOrder: readonly Int32Array[];
}

/** One computation of an arbitrary DAG given as data. */
export interface ComputationSpec {
  readonly stage: number;
  readonly instruction: Instruction;
  readonly microbatch: number;
  readonly chunk?: number;
}

interface Builder {
  readonly nodes: ComputationSpec[];
  readonly edges: Array<[number, number]>;
  readonly stageOrder: number[][];
}

/** Executes per stage `S − s − 1` warm-up forwards, then forward/backward pairs, then cool-down backwards. */
export function oneFOneBOrder(stages: number, microbatches: number, stage: number): Array<[Instruction, number]> {
  const warmup = Math.min(stages - stage - 1, microbatches);
  const order: Array<[Instruction, number]> = [];
  for (let m = 0; m < warmup; m++) order.push(['forward', m]);
  for (let i = 0; i < microbatches - warmup; i++) {
    order.push(['forward', warmup + i]);
    order.push(['backward', i]);
  }
  for (let m = microbatches - warmup; m < microbatches; m++) order.push(['backward', m]);
  return order;
}

/** Builds the DAG of one iteration of `pipeline`; topology errors name the field. */
export function buildPipelineDag(pipeline: PipelineSpec): Result<ComputationDag> {
  const issues = validatePipeline(pipeline);
  if (issues.length > 0) return fail(issues);
  const { stages: S, microbatches: M } = pipeline;
  const b: Builder = { nodes: [], edges: [], stageOrder: [] };
  const ids = new Map<string, number>();
  const key = (s: number, inst: Instruction, m: number, c: number): string => `${s}/${inst}/${m}/${c}`;
  const chunks = pipeline.schedule === 'Interleaved1F1B' ? (pipeline.virtualStages ?? 2) : 1;

  for (let s = 0; s < S; s++) {
    const order: Array<[Instruction, number, number]> = [];
    if (pipeline.schedule === '1F1B') {
      for (const [inst, m] of oneFOneBOrder(S, M, s)) order.push([inst, m, 0]);
    } else if (pipeline.schedule === 'GPipe') {
      for (let m = 0; m < M; m++) order.push(['forward', m, 0]);
      for (let m = 0; m < M; m++) order.push(['backward', m, 0]);
    } else {
      order.push(...interleavedOrder(S, M, chunks, s));
    }
    const stageIds: number[] = [];
    for (const [inst, m, c] of order) {
      const id = b.nodes.length;
      b.nodes.push({ stage: s, instruction: inst, microbatch: m, chunk: c });
      ids.set(key(s, inst, m, c), id);
      stageIds.push(id);
    }
    b.stageOrder.push(stageIds);
  }
  // Cross-stage dependencies on the virtual pipeline (chunk c of stage s is virtual stage c·S + s).
  const virtualCount = S * chunks;
  const at = (v: number, inst: Instruction, m: number): number => {
    const id = ids.get(key(v % S, inst, m, Math.floor(v / S)));
    if (id === undefined) throw new Error(`internal: missing computation ${inst} ${m} on virtual stage ${v}`);
    return id;
  };
  for (let m = 0; m < M; m++) {
    for (let v = 0; v + 1 < virtualCount; v++) {
      b.edges.push([at(v, 'forward', m), at(v + 1, 'forward', m)]);
      b.edges.push([at(v + 1, 'backward', m), at(v, 'backward', m)]);
    }
    b.edges.push([at(virtualCount - 1, 'forward', m), at(virtualCount - 1, 'backward', m)]);
  }
  return finish(b, S);
}

/** Megatron-style interleaved 1F1B order of stage `s` with `v` model chunks per stage. */
function interleavedOrder(S: number, M: number, v: number, s: number): Array<[Instruction, number, number]> {
  const total = M * v;
  const chunkOf = (k: number, forward: boolean): number => {
    const c = Math.floor((k % (S * v)) / S);
    return forward ? c : v - 1 - c;
  };
  const mbOf = (k: number): number => Math.floor(k / (S * v)) * S + (k % S);
  const warmup = Math.min((S - s - 1) * 2 + (v - 1) * S, total);
  const order: Array<[Instruction, number, number]> = [];
  for (let k = 0; k < warmup; k++) order.push(['forward', mbOf(k), chunkOf(k, true)]);
  for (let i = 0; i < total - warmup; i++) {
    order.push(['forward', mbOf(warmup + i), chunkOf(warmup + i, true)]);
    order.push(['backward', mbOf(i), chunkOf(i, false)]);
  }
  for (let k = total - warmup; k < total; k++) order.push(['backward', mbOf(k), chunkOf(k, false)]);
  return order;
}

function validatePipeline(p: PipelineSpec): PlannerIssue[] {
  const issues: PlannerIssue[] = [];
  if (!Number.isInteger(p.stages) || p.stages < 1) issues.push({ path: 'stages', message: `expected an integer ≥ 1, got ${p.stages}` });
  if (!Number.isInteger(p.microbatches) || p.microbatches < 1) {
    issues.push({ path: 'microbatches', message: `expected an integer ≥ 1, got ${p.microbatches}` });
  }
  if (!['1F1B', 'GPipe', 'Interleaved1F1B'].includes(p.schedule)) {
    issues.push({ path: 'schedule', message: `expected one of 1F1B, GPipe, Interleaved1F1B, got ${JSON.stringify(p.schedule)}` });
  }
  if (p.schedule === 'Interleaved1F1B') {
    const v = p.virtualStages ?? 2;
    if (!Number.isInteger(v) || v < 2) issues.push({ path: 'virtualStages', message: `expected an integer ≥ 2 for Interleaved1F1B, got ${v}` });
    if (issues.length === 0 && p.microbatches % p.stages !== 0) {
      issues.push({ path: 'microbatches', message: `Interleaved1F1B needs microbatches to be a multiple of stages (${p.stages}), got ${p.microbatches}` });
    }
  }
  return issues;
}

/**
 * Builds a DAG from explicit computations and dependency edges (indices into `computations`). The
 * stage execution order is the order computations are listed in; edges must not form a cycle.
 */
export function buildDagFromSpec(computations: readonly ComputationSpec[], edges: ReadonlyArray<readonly [number, number]>): Result<ComputationDag> {
  const issues: PlannerIssue[] = [];
  computations.forEach((c, i) => {
    if (!Number.isInteger(c.stage) || c.stage < 0) issues.push({ path: `computations[${i}].stage`, message: 'expected a non-negative integer' });
    if (!INSTRUCTIONS.includes(c.instruction)) issues.push({ path: `computations[${i}].instruction`, message: 'expected forward or backward' });
    if (!Number.isInteger(c.microbatch) || c.microbatch < 0) issues.push({ path: `computations[${i}].microbatch`, message: 'expected a non-negative integer' });
  });
  edges.forEach(([u, v], i) => {
    for (const [name, x] of [['from', u], ['to', v]] as const) {
      if (!Number.isInteger(x) || x < 0 || x >= computations.length) {
        issues.push({ path: `edges[${i}].${name}`, message: `expected a computation index in [0, ${computations.length - 1}], got ${x}` });
      }
    }
  });
  if (computations.length === 0) issues.push({ path: 'computations', message: 'expected at least one computation' });
  if (issues.length > 0) return fail(issues);
  const stageCount = Math.max(...computations.map((c) => c.stage)) + 1;
  const stageOrder: number[][] = Array.from({ length: stageCount }, () => []);
  computations.forEach((c, i) => stageOrder[c.stage]?.push(i));
  return finish({ nodes: [...computations], edges: edges.map(([u, v]) => [u, v]), stageOrder }, stageCount);
}

function finish(b: Builder, stageCount: number): Result<ComputationDag> {
  const n = b.nodes.length;
  // Same-stage execution order edges, then dependency edges; duplicates collapse into one.
  const seen = new Set<number>();
  const edgeList: number[] = [];
  const add = (u: number, v: number): void => {
    const k = u * n + v;
    if (u === v || seen.has(k)) return;
    seen.add(k);
    edgeList.push(u, v);
  };
  for (const order of b.stageOrder) for (let i = 0; i + 1 < order.length; i++) add(order[i] as number, order[i + 1] as number);
  for (const [u, v] of b.edges) add(u, v);

  const m = edgeList.length / 2;
  const succStart = new Int32Array(n + 1);
  const predStart = new Int32Array(n + 1);
  for (let e = 0; e < m; e++) {
    succStart[(edgeList[2 * e] as number) + 1]!++;
    predStart[(edgeList[2 * e + 1] as number) + 1]!++;
  }
  for (let i = 0; i < n; i++) {
    succStart[i + 1]! += succStart[i]!;
    predStart[i + 1]! += predStart[i]!;
  }
  const succ = new Int32Array(m);
  const pred = new Int32Array(m);
  const sFill = succStart.slice(0, n);
  const pFill = predStart.slice(0, n);
  for (let e = 0; e < m; e++) {
    const u = edgeList[2 * e] as number;
    const v = edgeList[2 * e + 1] as number;
    succ[sFill[u]!++] = v;
    pred[pFill[v]!++] = u;
  }
  // Kahn's algorithm; a leftover node means a cycle.
  const indeg = new Int32Array(n);
  for (let i = 0; i < n; i++) indeg[i] = predStart[i + 1]! - predStart[i]!;
  const topoOrder = new Int32Array(n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < n; i++) if (indeg[i] === 0) topoOrder[tail++] = i;
  while (head < tail) {
    const u = topoOrder[head++]!;
    for (let k = succStart[u]!; k < succStart[u + 1]!; k++) {
      const v = succ[k]!;
      if (--indeg[v]! === 0) topoOrder[tail++] = v;
    }
  }
  if (tail !== n) return fail([{ path: 'edges', message: 'the dependencies form a cycle; a pipeline iteration must be a DAG' }]);

  return ok({
    count: n,
    stageCount,
    stage: Int32Array.from(b.nodes, (x) => x.stage),
    instruction: Uint8Array.from(b.nodes, (x) => (x.instruction === 'forward' ? FORWARD : BACKWARD)),
    microbatch: Int32Array.from(b.nodes, (x) => x.microbatch),
    chunk: Int32Array.from(b.nodes, (x) => x.chunk ?? 0),
    succStart,
    succ,
    predStart,
    pred,
    topoOrder,
    stageOrder: b.stageOrder.map((o) => Int32Array.from(o)),
  });
}

/** Longest path through the DAG with per-computation durations (any unit): the iteration time. */
export function longestPath(dag: ComputationDag, duration: ArrayLike<number>): number {
  const finish = new Float64Array(dag.count);
  let total = 0;
  for (let k = 0; k < dag.count; k++) {
    const u = dag.topoOrder[k]!;
    let start = 0;
    for (let p = dag.predStart[u]!; p < dag.predStart[u + 1]!; p++) {
      const f = finish[dag.pred[p]!]!;
      if (f > start) start = f;
    }
    const f = start + (duration[u] as number);
    finish[u] = f;
    if (f > total) total = f;
  }
  return total;
}

/** Earliest finish and latest finish (against `deadline`, by default the iteration's length) of every computation. */
export function scheduleTimes(
  dag: ComputationDag,
  duration: ArrayLike<number>,
  deadline?: number,
): { total: number; earliestFinish: Float64Array; latestFinish: Float64Array } {
  const n = dag.count;
  const ef = new Float64Array(n);
  const lf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const u = dag.topoOrder[k]!;
    let es = 0;
    for (let p = dag.predStart[u]!; p < dag.predStart[u + 1]!; p++) es = Math.max(es, ef[dag.pred[p]!]!);
    ef[u] = es + (duration[u] as number);
    total = Math.max(total, ef[u]!);
  }
  const end = deadline ?? total;
  for (let k = n - 1; k >= 0; k--) {
    const u = dag.topoOrder[k]!;
    let f = end;
    for (let p = dag.succStart[u]!; p < dag.succStart[u + 1]!; p++) f = Math.min(f, lf[dag.succ[p]!]! - (duration[dag.succ[p]!] as number));
    lf[u] = f;
  }
  return { total, earliestFinish: ef, latestFinish: lf };
}
