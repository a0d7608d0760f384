// Prometheus metrics of the agent (one registry per process) with dcgm-exporter's GPU labels, plus the
// HTTP server for /metrics, /healthz and /readyz.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClockEventReason, Gpu } from '../nvml/gpu.ts';
import type { AgentObserver, NodeAgent } from './agent.ts';
import type { ClockChange } from './clock-queue.ts';
import type { AgentRankSpec, RankKey } from './types.ts';

const GPU_LABELS = ['gpu', 'UUID', 'pod', 'namespace', 'Hostname'] as const;

/** The agent's metrics; pass `observer` to NodeAgent and call `attach(agent)` for the sampled gauges. */
export class AgentMetrics {
  readonly registry: Registry;
  private readonly clockChanges: Counter<(typeof GPU_LABELS)[number]>;
  private readonly clockSetSeconds: Histogram<'UUID'>;
  private readonly planned: Gauge<(typeof GPU_LABELS)[number]>;
  private readonly iterationSeconds: Gauge<'namespace' | 'rank' | 'pod'>;
  private readonly throttleEvents: Counter<(typeof GPU_LABELS)[number] | 'reason'>;
  private readonly rejected: Counter<'code'>;
  private readonly eventLoopNice: Gauge;
  private readonly eventLoopNiceRequested: Gauge;
  private readonly plannedByUuid = new Map<string, number>();
  private agent: NodeAgent | undefined;

  constructor(
    private readonly hostname: string,
    registry = new Registry(),
  ) {
    this.registry = registry;
    const gpusOf = (): readonly Gpu[] => this.agent?.gpus ?? [];
    const plannedOf = (uuid: string): number | undefined => this.plannedByUuid.get(uuid);
    const labelsOf = (gpu: Gpu): Record<(typeof GPU_LABELS)[number], string> => {
      const owner = this.agent?.ownerOfGpu(gpu.uuid);
      return { gpu: String(gpu.index), UUID: gpu.uuid, pod: owner?.pod ?? '', namespace: owner?.namespace ?? '', Hostname: hostname };
    };
    const sampled = (name: string, help: string, read: (gpu: Gpu) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: GPU_LABELS,
        registers: [registry],
        collect() {
          this.reset();
          for (const gpu of gpusOf()) {
            try {
              this.set(labelsOf(gpu), read(gpu));
            } catch {
              // A GPU that cannot be read is left out of this scrape rather than failing it.
            }
          }
        },
      });
    };
    // A counter in meaning (monotonic), exported as a gauge because its value comes from the device.
    sampled('perseus_agent_gpu_energy_joules_total', 'Energy the GPU consumed since the driver loaded (J).', (g) => g.totalEnergyMillijoules() / 1000);
    sampled('perseus_agent_gpu_power_watts', 'GPU board power (W).', (g) => g.powerMilliwatts() / 1000);
    sampled('perseus_agent_gpu_sm_clock_mhz', 'Current SM clock (MHz).', (g) => g.smClockMhz());
    this.planned = new Gauge({
      name: 'perseus_agent_gpu_planned_clock_mhz',
      help: 'SM clock the agent locked the GPU to (MHz); absent when at the driver default.',
      labelNames: GPU_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const gpu of gpusOf()) {
          const mhz = plannedOf(gpu.uuid);
          if (mhz !== undefined) this.set(labelsOf(gpu), mhz);
        }
      },
    });
    this.clockChanges = new Counter({ name: 'perseus_agent_clock_changes_total', help: 'SM clock changes applied through NVML.', labelNames: GPU_LABELS, registers: [registry] });
    this.clockSetSeconds = new Histogram({
      name: 'perseus_agent_clock_set_seconds',
      help: 'Duration of one NVML clock set or reset call (s).',
      labelNames: ['UUID'],
      buckets: [1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2],
      registers: [registry],
    });
    this.iterationSeconds = new Gauge({ name: 'perseus_agent_iteration_seconds', help: 'Wall time of the last training iteration of a rank (s).', labelNames: ['namespace', 'rank', 'pod'], registers: [registry] });
    this.throttleEvents = new Counter({ name: 'perseus_agent_throttle_events_total', help: 'Iterations that ended while the GPU reported a throttle reason.', labelNames: [...GPU_LABELS, 'reason'], registers: [registry] });
    this.rejected = new Counter({ name: 'perseus_agent_rejected_messages_total', help: 'Training API messages answered with an error, by code.', labelNames: ['code'], registers: [registry] });
    this.eventLoopNice = new Gauge({ name: 'perseus_agent_event_loop_nice', help: 'Nice value of the thread that serves the training socket and sets clocks.', registers: [registry] });
    this.eventLoopNiceRequested = new Gauge({ name: 'perseus_agent_event_loop_nice_requested', help: 'Nice value the agent was configured to run that thread at (--nice).', registers: [registry] });
  }

  /** Records the event-loop thread's nice value: the one asked for and the one in effect. */
  recordPriority(requested: number, inEffect: number): void {
    this.eventLoopNiceRequested.set(requested);
    this.eventLoopNice.set(inEffect);
  }

  /** Connects the sampled gauges to an agent. */
  attach(agent: NodeAgent): void {
    this.agent = agent;
  }

  /** The observer to pass to NodeAgent. */
  get observer(): AgentObserver {
    return {
      clockChanged: (change: ClockChange, owner: (RankKey & { pod: string }) | undefined) => {
        this.clockChanges.inc({ gpu: String(change.gpuIndex), UUID: change.gpuUuid, pod: owner?.pod ?? '', namespace: owner?.namespace ?? '', Hostname: this.hostname });
        this.clockSetSeconds.observe({ UUID: change.gpuUuid }, change.latencySeconds);
      },
      plannedClock: (uuid: string, mhz: number | undefined) => {
        if (mhz === undefined) this.plannedByUuid.delete(uuid);
        else this.plannedByUuid.set(uuid, mhz);
      },
      iterationEnded: (rank: AgentRankSpec, seconds: number) => this.iterationSeconds.set({ namespace: rank.namespace, rank: rank.name, pod: rank.podName }, seconds),
      throttled: (gpu: Gpu, owner: (RankKey & { pod: string }) | undefined, reasons: readonly ClockEventReason[]) => {
        for (const reason of reasons) this.throttleEvents.inc({ gpu: String(gpu.index), UUID: gpu.uuid, pod: owner?.pod ?? '', namespace: owner?.namespace ?? '', Hostname: this.hostname, reason });
      },
      messageRejected: (code) => this.rejected.inc({ code }),
    };
  }
}

/**
 * Serves /healthz (process alive), /readyz (ready() true) and, unless `metrics` is false (they are then on
 * the secure endpoint of src/kube/metrics-server.ts), /metrics. Returns the listening server.
 */
export async function serveAgentHttp(options: { port: number; host?: string; registry: Registry; ready: () => boolean; metrics?: boolean }): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      const ok = options.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    } else if (url === '/metrics' && options.metrics !== false) {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? '0.0.0.0', resolve));
  return server;
}
