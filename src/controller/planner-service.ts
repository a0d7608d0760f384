// Runs the planner for the controller: tiny DAGs inline, all others on a worker thread so the event loop
// (watches, leases, other jobs) never stalls: a 5-stage, 8-microbatch DAG (80 computations) already takes
// about half a second to solve, which inline would add to every reconcile in flight. Frontiers are cached by their input key; the planner is
// deterministic, so a restarted controller re-derives the same frontier from the stored profile.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FrequencyPlan, PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import { allMaxPlan, choosePlan, evaluatePlan, type Frontier, type SolvedPoint } from '../planner/index.ts';
import { solveFrontierReaching } from '../planner/reaching.ts';
import type { FittedPlan } from '../planner/frontier.ts';
import type { FrontierState, SolveRequest } from './decision.ts';

/** A frontier in transferable form: points plus every point's clocks in one flat array. */
export interface CompactFrontier {
  readonly pipeline: PipelineSpec;
  readonly options: PlannerOptions;
  readonly stageCount: number;
  readonly stopReason: Frontier['stopReason'];
  readonly points: readonly SolvedPoint[];
  /** Plan shape shared by every point: per stage, the computations in order (clocks taken from `clocks`). */
  readonly shape: readonly { stage: number; computations: readonly { instruction: 'forward' | 'backward'; microbatch: number; chunk: number }[] }[];
  /** points × computations clocks (MHz), point-major, computations in `shape` order. */
  readonly clocks: Uint16Array;
  readonly baseline: { readonly timeSeconds: number; readonly energyJoules: number };
  /** The plan fitted to the base target (baseline time × maxSlowdown), when fitting beat the points. */
  readonly baseFit: { readonly index: number; readonly targetSeconds: number; readonly fit: FittedPlan } | undefined;
  readonly solveSeconds: number;
}

/** A solved frontier with its all-max baseline. */
export interface SolvedFrontier {
  readonly frontier: Frontier;
  readonly baseline: { readonly timeSeconds: number; readonly energyJoules: number };
  readonly solveSeconds: number;
}

/** Solves inline, keeping the planner's own Frontier (full fitting on every lookup). */
export function solveInline(profile: StageProfile, pipeline: PipelineSpec, options: PlannerOptions, maxSlowdown = 1): SolvedFrontier {
  const started = performance.now();
  const baseline = evaluatePlan(allMaxPlan(profile, pipeline, options.granularity), profile, pipeline, options.blockingPowerWatts);
  const { frontier } = solveFrontierReaching(profile, pipeline, options, baseline.timeSeconds * maxSlowdown);
  return { frontier, baseline: { timeSeconds: baseline.timeSeconds, energyJoules: baseline.energyJoules }, solveSeconds: (performance.now() - started) / 1000 };
}

/** Solves and packs a frontier (runs in the worker, or inline). */
export function solveCompact(profile: StageProfile, pipeline: PipelineSpec, options: PlannerOptions, maxSlowdown: number): CompactFrontier {
  const started = performance.now();
  const baseline = evaluatePlan(allMaxPlan(profile, pipeline, options.granularity), profile, pipeline, options.blockingPowerWatts);
  const { frontier } = solveFrontierReaching(profile, pipeline, options, baseline.timeSeconds * maxSlowdown);
  const first = frontier.planAt(0);
  const shape = first.stages.map((s) => ({ stage: s.stage, computations: s.computations.map((c) => ({ instruction: c.instruction, microbatch: c.microbatch, chunk: c.chunk })) }));
  const perPoint = shape.reduce((n, s) => n + s.computations.length, 0);
  const clocks = new Uint16Array(perPoint * frontier.points.length);
  for (let i = 0; i < frontier.points.length; i++) {
    const plan = i === 0 ? first : frontier.planAt(i);
    let k = i * perPoint;
    for (const s of plan.stages) for (const c of s.computations) clocks[k++] = c.frequencyMhz;
  }
  const targetSeconds = baseline.timeSeconds * maxSlowdown;
  const base = choosePlan(frontier, targetSeconds);
  const baseFit = base.fitted ? { index: base.index, targetSeconds, fit: { plan: base.plan, trueTimeSeconds: base.point.trueTimeSeconds, trueEnergyJoules: base.point.trueEnergyJoules } } : undefined;
  return {
    baseFit,
    pipeline,
    options,
    stageCount: frontier.stageCount,
    stopReason: frontier.stopReason,
    points: frontier.points.map((p) => ({ ...p })),
    shape,
    clocks,
    baseline: { timeSeconds: baseline.timeSeconds, energyJoules: baseline.energyJoules },
    solveSeconds: (performance.now() - started) / 1000,
  };
}

/** A Frontier over a compact one; plans are rebuilt on demand and the last few kept. */
export function unpackFrontier(c: CompactFrontier): Frontier {
  const perPoint = c.shape.reduce((n, s) => n + s.computations.length, 0);
  const memo = new Map<number, FrequencyPlan>();
  return {
    pipeline: c.pipeline,
    options: c.options,
    stageCount: c.stageCount,
    points: c.points,
    stopReason: c.stopReason,
    planAt(index: number): FrequencyPlan {
      const cached = memo.get(index);
      if (cached !== undefined) return cached;
      const point = c.points[index];
      if (point === undefined) throw new RangeError(`frontier point ${index} of ${c.points.length}`);
      let k = index * perPoint;
      const stages = c.shape.map((s) => {
        const computations = s.computations.map((comp) => ({ ...comp, frequencyMhz: c.clocks[k++] ?? 0 }));
        return c.options.granularity === 'Stage' ? { stage: s.stage, computations, frequencyMhz: computations[0]?.frequencyMhz ?? 0 } : { stage: s.stage, computations };
      });
      const plan: FrequencyPlan = { granularity: c.options.granularity, modelTimeSeconds: point.timeSeconds, modelEnergyJoules: point.energyJoules, stages };
      if (memo.size >= 8) memo.delete(memo.keys().next().value as number);
      memo.set(index, plan);
      return plan;
    },
    // Only the base target's fit crosses the thread boundary; other lookups use the points as solved.
    fitPlanToTarget(index: number, targetSeconds: number): FittedPlan | undefined {
      const f = c.baseFit;
      return f !== undefined && f.index === index && Math.abs(f.targetSeconds - targetSeconds) < 1e-12 ? f.fit : undefined;
    },
  };
}

export interface PlannerServiceOptions {
  /** DAGs with more computations than this (default 32) are solved on a worker thread. */
  readonly workerThreshold?: number;
  readonly onSolved?: (solveSeconds: number, points: number) => void;
  /** Called when a solve fails (invalid profile for the cost model, worker crash). */
  readonly onFailed?: (message: string) => void;
}

type Entry = { state: 'solving' } | { state: 'failed'; message: string } | { state: 'ready'; frontier: Frontier; baseline: { timeSeconds: number; energyJoules: number } };

/**
 * tsx's ESM API as a file URL, for a worker that runs the sources. Resolved through createRequire, which
 * works whether this module was loaded as ESM or (under a CommonJS-transforming loader, as in mocha's
 * `--require` chain) without `import.meta.resolve`.
 */
function tsxApiUrl(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> };
  const entry = pkg.exports?.['./esm/api']?.import?.default;
  if (entry === undefined) throw new Error(`${manifest} exports no ESM entry for tsx/esm/api`);
  return pathToFileURL(join(dirname(manifest), entry)).href;
}

export class PlannerService {
  private readonly entries = new Map<string, Entry>();
  private readonly workers = new Set<Worker>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private closed = false;

  constructor(private readonly options: PlannerServiceOptions = {}) {}

  state(key: string | undefined): FrontierState {
    if (key === undefined) return { state: 'absent' };
    return this.entries.get(key) ?? { state: 'absent' };
  }

  /**
   * Starts solving `req` unless known; `onDone` runs when the result is in (ready or failed), also for a
   * request of a key already being solved (every job waiting on one frontier hears of it).
   */
  request(req: SolveRequest, onDone: () => void): void {
    if (this.closed) return;
    const waiting = this.waiters.get(req.key);
    if (waiting !== undefined) {
      waiting.push(onDone);
      return;
    }
    if (this.entries.has(req.key)) return;
    this.entries.set(req.key, { state: 'solving' });
    this.waiters.set(req.key, [onDone]);
    const computations = req.pipeline.stages * req.pipeline.microbatches * 2 * (req.pipeline.virtualStages ?? 1);
    const finish = (result: SolvedFrontier | Error): void => {
      if (this.closed) return;
      if (result instanceof Error) {
        this.entries.set(req.key, { state: 'failed', message: result.message });
        this.options.onFailed?.(result.message);
      } else {
        this.entries.set(req.key, { state: 'ready', frontier: result.frontier, baseline: result.baseline });
        this.options.onSolved?.(result.solveSeconds, result.frontier.points.length);
      }
      const done = this.waiters.get(req.key) ?? [];
      this.waiters.delete(req.key);
      for (const f of done) f();
    };
    if (computations <= (this.options.workerThreshold ?? 32)) {
      // Still asynchronous, so decide() sees the same sequence either way.
      setImmediate(() => {
        try {
          finish(solveInline(req.profile, req.pipeline, req.options, req.maxSlowdown));
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      });
      return;
    }
    // The compiled build runs plain .js. The sources run through tsx, whose loader a worker does not inherit
    // (nor take from `--import tsx` in its execArgv on Node 20): the worker registers it, then imports the source.
    const compiled = import.meta.url.endsWith('.js');
    const workerData = { profile: req.profile, pipeline: req.pipeline, options: req.options, maxSlowdown: req.maxSlowdown };
    const source = new URL('./planner-worker.ts', import.meta.url).href;
    let worker: Worker;
    try {
      worker = compiled
        ? new Worker(new URL('./planner-worker.js', import.meta.url), { workerData })
        : new Worker(`import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`, { eval: true, workerData });
    } catch (err) {
      // Never leave the key marked as being solved: the job would wait for it forever.
      setImmediate(() => finish(err instanceof Error ? err : new Error(String(err))));
      return;
    }
    this.workers.add(worker);
    let settled = false;
    worker.once('message', (msg: { ok: true; frontier: CompactFrontier } | { ok: false; message: string }) => {
      settled = true;
      finish(msg.ok ? { frontier: unpackFrontier(msg.frontier), baseline: msg.frontier.baseline, solveSeconds: msg.frontier.solveSeconds } : new Error(msg.message));
    });
    worker.once('error', (err) => {
      if (!settled) finish(err);
      settled = true;
    });
    worker.once('exit', (code) => {
      this.workers.delete(worker);
      if (!settled && !this.closed) finish(new Error(`planner worker exited with code ${code}`));
      settled = true;
    });
  }

  /** Runs `onDone` once the frontier of `key`, which is being solved, is in; false (and no call) when it is not being solved. */
  whenSolved(key: string, onDone: () => void): boolean {
    const waiting = this.waiters.get(key);
    waiting?.push(onDone);
    return waiting !== undefined;
  }

  /** Drops cached frontiers not in `keep` (jobs that are gone or finished). */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, entry] of this.entries) if (entry.state !== 'solving' && !keep.has(key)) this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }
}
