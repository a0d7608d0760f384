// A simulated training worker: what a pipeline-parallel training process does, against simulated GPUs. It
// speaks the real local training API to its node's agent over the Unix socket (hello with the mounted token,
// begin/end per computation, step_end per iteration), runs its stage's 1F1B schedule with each computation's
// time and energy taken from the profile at the clock the agent actually set, and synchronizes with the
// other stages (activations, gradients) and pipelines (data-parallel barrier) through the Fabric.
import { createConnection, type Socket } from 'node:net';
import type { Instruction } from '../../api/planner-types.ts';
import { PROTOCOL_VERSION, type ServerReply } from '../../agent/protocol.ts';
import type { SimulatedGpu } from '../../nvml/simulated-gpu.ts';
import { oneFOneBOrder } from '../../planner/index.ts';
import type { Fabric } from './fabric.ts';
import { SimulationStopped, type VirtualTime } from './virtual-time.ts';

export interface StragglerInjection {
  readonly pipeline: number;
  readonly factor: number;
  /** First slowed iteration (of the training run). */
  readonly atIteration: number;
  /** First iteration back at full speed (undefined: never). */
  readonly untilIteration?: number;
}

/** Counts the lines the node agent has handled per rank (so a worker knows its `begin` took effect). */
export interface LineReceipts {
  handled(rankKey: string): number;
  waitHandled(rankKey: string, count: number): Promise<void>;
}

export interface WorkerConfig {
  readonly namespace: string;
  readonly pod: string;
  readonly rank: string;
  readonly job: string;
  readonly role: 'worker' | 'profiler';
  readonly pipeline: number;
  readonly stage: number;
  readonly stages: number;
  readonly microbatches: number;
  readonly worldSize: number;
  /** Host path of the agent socket (the pod's PERSEUS_AGENT_SOCKET through its hostPath mount). */
  readonly socketPath: string;
  readonly token: string;
  readonly gpus: readonly SimulatedGpu[];
  /** Training iterations; Infinity runs until stopped (profiling pods). */
  readonly iterations: number;
  readonly straggler?: StragglerInjection;
  /** The pod's gang restart attempt: the pods of one attempt form one collective group. */
  readonly attempt?: number;
}

export interface WorkerDeps {
  readonly time: VirtualTime;
  readonly fabric: Fabric;
  readonly receipts: LineReceipts;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** A connection to the agent, and when it ended. */
interface Link {
  readonly socket: Socket;
  readonly closed: Promise<void>;
}

function linkOf(socket: Socket): Link {
  return { socket, closed: new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve()))) };
}

/** A running worker; `done` resolves to the container's exit code. */
export class SimWorker {
  readonly done: Promise<number>;
  private stopped = false;
  private socket: Socket | undefined;
  private rejectStop: ((e: Error) => void) | undefined;
  private readonly stopPromise: Promise<never>;
  /** Iterations finished (training progress). */
  iterationsDone = 0;
  /** Connections made again after the agent went away. */
  reconnects = 0;

  constructor(
    readonly config: WorkerConfig,
    private readonly deps: WorkerDeps,
  ) {
    this.stopPromise = new Promise<never>((_, reject) => (this.rejectStop = reject));
    this.stopPromise.catch(() => undefined);
    this.done = this.run().then(
      () => 0,
      (err: unknown) => {
        if (err instanceof SimulationStopped || this.stopped) return 137;
        deps.log?.('Simulated worker failed', { pod: config.pod, error: (err as Error).message });
        return 1;
      },
    );
  }

  get world(): string {
    return `${this.config.namespace}/${this.config.job}/${this.config.role}/${this.config.attempt ?? 0}`;
  }

  /** SIGKILL: the pod is being deleted. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.socket?.destroy();
    this.rejectStop?.(new SimulationStopped(`pod ${this.config.pod} stopped`));
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.stopPromise]);
  }

  /** Connects and binds the rank; retries while the agent does not know the rank yet. */
  private async connect(): Promise<{ socket: Socket; replies: ServerReply[]; wake: { fn: (() => void) | undefined } }> {
    const c = this.config;
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new SimulationStopped('stopped');
      const release = this.deps.time.hold();
      let result: { socket: Socket; replies: ServerReply[]; wake: { fn: (() => void) | undefined } } | undefined;
      try {
        result = await this.guard(this.tryHello());
      } catch (err) {
        if (err instanceof SimulationStopped) throw err;
        result = undefined;
      } finally {
        release();
      }
      if (result !== undefined) return result;
      if (attempt === 20) this.deps.log?.('Still waiting for the node agent to accept the rank', { pod: c.pod, rank: c.rank });
      await this.guard(this.deps.time.sleep(1));
    }
  }

  private tryHello(): Promise<{ socket: Socket; replies: ServerReply[]; wake: { fn: (() => void) | undefined } }> {
    const c = this.config;
    return new Promise((resolve, reject) => {
      const socket = createConnection(c.socketPath);
      this.socket = socket;
      const replies: ServerReply[] = [];
      const wake: { fn: (() => void) | undefined } = { fn: undefined };
      let buffer = '';
      let bound = false;
      socket.setEncoding('utf8');
      socket.on('error', (err) => {
        if (!bound) reject(err);
      });
      socket.on('close', () => {
        if (!bound) reject(new Error('the agent closed the connection'));
        else this.socket = undefined;
      });
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          const reply = JSON.parse(line) as ServerReply;
          if (!bound) {
            if (reply.type === 'hello') {
              bound = true;
              resolve({ socket, replies, wake });
            } else {
              socket.destroy();
              reject(new Error(`${reply.code}: ${reply.message}`));
            }
          } else {
            replies.push(reply);
            wake.fn?.();
          }
        }
      });
      socket.on('connect', () => {
        socket.write(`${JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, namespace: c.namespace, rank: c.rank, pod: c.pod, token: c.token })}\n`);
      });
    });
  }

  private async run(): Promise<void> {
    const c = this.config;
    const { time, fabric, receipts } = this.deps;
    const rankKey = `${c.namespace}/${c.rank}`;
    let link: Link | undefined = linkOf((await this.connect()).socket);
    let sent = receipts.handled(rankKey);
    let retryAtSeconds = 0;
    /**
     * Sends a line and holds simulated time until the agent has acted on it (it does so well under 1 ms).
     * When the agent is gone (killed, restarting) training goes on without it, and the worker tries to
     * reconnect at most once a simulated second, as the Python client does.
     */
    const send = async (message: Record<string, unknown>): Promise<void> => {
      if (this.stopped) throw new SimulationStopped('stopped');
      if (link === undefined || link.socket.destroyed) {
        link = undefined;
        if (time.nowSeconds() < retryAtSeconds) return;
        retryAtSeconds = time.nowSeconds() + 1;
        const release = time.hold();
        try {
          link = linkOf((await this.guard(this.tryHello())).socket);
          sent = receipts.handled(rankKey);
          this.reconnects++;
        } catch (err) {
          if (err instanceof SimulationStopped) throw err;
          return;
        } finally {
          release();
        }
      }
      const release = time.hold();
      try {
        link.socket.write(`${JSON.stringify(message)}\n`);
        sent++;
        await this.guard(Promise.race([receipts.waitHandled(rankKey, sent), link.closed]));
      } finally {
        release();
      }
    };
    fabric.join(this.world, c.worldSize, c.pipeline, c.stage, c.gpus);
    await this.guard(fabric.startBarrier(this.world, c.pipeline, c.stage));
    const order = oneFOneBOrder(c.stages, c.microbatches, c.stage);
    const marksEnd = c.role === 'profiler';
    for (let it = 0; it < c.iterations; it++) {
      const s = c.straggler;
      if (s !== undefined && c.role === 'worker' && s.pipeline === c.pipeline) {
        if (it === s.atIteration) for (const g of c.gpus) g.setSlowdown(s.factor);
        if (it === s.untilIteration) for (const g of c.gpus) g.setSlowdown(1);
      }
      const start = time.nowSeconds();
      for (const [instruction, microbatch] of order) {
        await this.guard(this.dependency(instruction, microbatch));
        await send({ type: 'begin', instruction, microbatch });
        let end = time.nowSeconds();
        for (const g of c.gpus) {
          const run = g.launch(instruction, c.stage);
          end = Math.max(end, run.startSeconds + run.durationSeconds);
        }
        await this.guard(time.sleepUntil(end));
        if (marksEnd) await send({ type: 'end' });
        fabric.publish(this.world, c.pipeline, c.stage, instruction, microbatch);
      }
      const computeSeconds = time.nowSeconds() - start;
      await send({ type: 'step_end', iterationSeconds: Math.max(computeSeconds, 1e-9) });
      await this.guard(fabric.endIteration(this.world, c.pipeline, c.stage, computeSeconds));
      this.iterationsDone = it + 1;
    }
    if (c.straggler?.pipeline === c.pipeline) for (const g of c.gpus) g.setSlowdown(1);
    link?.socket.end();
  }

  /** Forward of micro-batch m needs the previous stage's forward of m; backward needs the next stage's backward. */
  private dependency(instruction: Instruction, microbatch: number): Promise<void> {
    const c = this.config;
    if (instruction === 'forward' && c.stage > 0) return this.deps.fabric.received(this.world, c.pipeline, c.stage - 1, 'forward', microbatch);
    if (instruction === 'backward' && c.stage < c.stages - 1) return this.deps.fabric.received(this.world, c.pipeline, c.stage + 1, 'backward', microbatch);
    return Promise.resolve();
  }
}
