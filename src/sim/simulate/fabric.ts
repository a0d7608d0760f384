// What NCCL and the gradient all-reduce do for simulated workers: point-to-point activations and gradients
// between the stages of a pipeline, and the data-parallel barrier at the end of every iteration (every
// pipeline waits for the slowest). Records each finished iteration's time and energy.
import type { Instruction } from '../../api/planner-types.ts';
import type { SimulatedGpu } from '../../nvml/simulated-gpu.ts';
import { SimulationStopped } from './virtual-time.ts';

/** One iteration of a world (every rank of a job's profiling or training run), as the simulator measured it. */
export interface IterationRecord {
  readonly world: string;
  readonly iteration: number;
  /** Virtual seconds at the barrier that opened and closed the iteration. */
  readonly startSeconds: number;
  readonly endSeconds: number;
  /** Compute time of every pipeline (its slowest rank, excluding the barrier wait), by pipeline index. */
  readonly pipelineSeconds: readonly number[];
  /** Energy of every GPU of the world over the iteration (J). */
  readonly energyJoules: number;
}

interface Member {
  readonly pipeline: number;
  readonly stage: number;
  readonly gpus: readonly SimulatedGpu[];
}

interface Barrier {
  readonly arrived: Map<string, { compute: number; pipeline: number }>;
  readonly waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
}

class World {
  readonly members = new Map<string, Member>();
  readonly signals = new Map<string, { done: boolean; waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> }>();
  barrier: Barrier = { arrived: new Map(), waiters: [] };
  iteration = 0;
  startSeconds: number;
  energyMj: number | undefined;
  constructor(
    readonly name: string,
    readonly size: number,
    nowSeconds: number,
  ) {
    this.startSeconds = nowSeconds;
  }
}

function memberKey(pipeline: number, stage: number): string {
  return `${pipeline}/${stage}`;
}

export class Fabric {
  private readonly worlds = new Map<string, World>();

  constructor(
    private readonly nowSeconds: () => number,
    private readonly onIteration: (record: IterationRecord) => void,
  ) {}

  private world(name: string, size: number): World {
    let w = this.worlds.get(name);
    if (w === undefined) {
      w = new World(name, size, this.nowSeconds());
      this.worlds.set(name, w);
    }
    return w;
  }

  /** A rank joins its world (the rendezvous). A rejoining rank (a restarted pod) replaces its old self. */
  join(world: string, size: number, pipeline: number, stage: number, gpus: readonly SimulatedGpu[]): void {
    this.world(world, size).members.set(memberKey(pipeline, stage), { pipeline, stage, gpus });
  }

  private signal(w: World, key: string) {
    let s = w.signals.get(key);
    if (s === undefined) {
      s = { done: false, waiters: [] };
      w.signals.set(key, s);
    }
    return s;
  }

  /** Marks a computation's output as sent to its neighbour stage. */
  publish(world: string, pipeline: number, stage: number, instruction: Instruction, microbatch: number): void {
    const w = this.worlds.get(world);
    if (w === undefined) return;
    const s = this.signal(w, `${pipeline}/${stage}/${instruction}/${microbatch}`);
    s.done = true;
    for (const waiter of s.waiters.splice(0)) waiter.resolve();
  }

  /** Resolves once the computation's output has been published in this iteration. */
  received(world: string, pipeline: number, stage: number, instruction: Instruction, microbatch: number): Promise<void> {
    const w = this.worlds.get(world);
    if (w === undefined) return Promise.reject(new SimulationStopped(`world ${world} is gone`));
    const s = this.signal(w, `${pipeline}/${stage}/${instruction}/${microbatch}`);
    if (s.done) return Promise.resolve();
    return new Promise((resolve, reject) => s.waiters.push({ resolve, reject }));
  }

  /** The data-parallel barrier: resolves when every rank of the world finished the iteration. */
  endIteration(world: string, pipeline: number, stage: number, computeSeconds: number): Promise<void> {
    const w = this.worlds.get(world);
    if (w === undefined) return Promise.reject(new SimulationStopped(`world ${world} is gone`));
    const b = w.barrier;
    b.arrived.set(memberKey(pipeline, stage), { compute: computeSeconds, pipeline });
    const p = new Promise<void>((resolve, reject) => b.waiters.push({ resolve, reject }));
    if (b.arrived.size >= w.size) this.completeIteration(w);
    return p;
  }

  private completeIteration(w: World): void {
    const b = w.barrier;
    const pipelineSeconds: number[] = [];
    for (const { compute, pipeline } of b.arrived.values()) pipelineSeconds[pipeline] = Math.max(pipelineSeconds[pipeline] ?? 0, compute);
    let energyMj = 0;
    for (const m of w.members.values()) for (const g of m.gpus) energyMj += g.totalEnergyMillijoules();
    const now = this.nowSeconds();
    const measured = w.energyMj !== undefined;
    if (w.energyMj !== undefined) {
      this.onIteration({
        world: w.name,
        iteration: w.iteration,
        startSeconds: w.startSeconds,
        endSeconds: now,
        pipelineSeconds: Array.from(pipelineSeconds, (s) => s ?? 0),
        energyJoules: (energyMj - w.energyMj) / 1000,
      });
    }
    w.energyMj = energyMj;
    w.startSeconds = now;
    if (measured) w.iteration++;
    w.signals.clear();
    w.barrier = { arrived: new Map(), waiters: [] };
    for (const waiter of b.waiters) waiter.resolve();
  }

  /** Marks the start of the first iteration (energy baseline) once every rank joined. */
  ready(world: string): boolean {
    const w = this.worlds.get(world);
    return w !== undefined && w.members.size >= w.size;
  }

  /** Aligns the first iteration: the world's energy baseline is taken when the last rank arrives. */
  startBarrier(world: string, pipeline: number, stage: number): Promise<void> {
    return this.endIteration(world, pipeline, stage, 0);
  }

  /** Ends a world (its pods are gone): pending waits reject. */
  dissolve(world: string): void {
    const w = this.worlds.get(world);
    if (w === undefined) return;
    this.worlds.delete(world);
    const err = new SimulationStopped(`world ${world} ended`);
    for (const s of w.signals.values()) for (const waiter of s.waiters) waiter.reject(err);
    for (const waiter of w.barrier.waiters) waiter.reject(err);
  }
}
