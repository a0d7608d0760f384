// A simulated GPU node: simulated GPUs, the real node agent (NodeAgent, its Unix socket server and its
// Kubernetes wiring) under a per-node host directory, and the kubelet's GPU allocations (the pod-resources
// answer the agent gets); optionally the agent's /metrics endpoint.
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { NodeAgent } from '../../agent/agent.ts';
import { KubeRankWiring } from '../../agent/kube-ranks.ts';
import { AgentMetrics, serveAgentHttp } from '../../agent/metrics.ts';
import { AgentSocketServer } from '../../agent/socket-server.ts';
import type { AgentLogger } from '../../agent/types.ts';
import { AGENT_SOCKET_FILE, AGENT_SOCKET_HOST_DIR } from '../../api/names.ts';
import type { StageProfile } from '../../api/planner-types.ts';
import type { KubeApi } from '../../kube/client.ts';
import { systemClock } from '../../kube/clock.ts';
import { SimulatedGpu } from '../../nvml/simulated-gpu.ts';
import { FencedGpu } from './fenced-gpu.ts';
import type { LineReceipts } from './worker.ts';
import type { VirtualTime } from './virtual-time.ts';

/** Where the agent listens on a node (the hostPath the controller mounts into pods). */

export interface SimNodeOptions {
  readonly name: string;
  /** The node's root file system on this machine (hostPath volumes resolve below it). */
  readonly hostRoot: string;
  readonly gpuCount: number;
  readonly gpuName: string;
  readonly profile: StageProfile;
  readonly blockingPowerWatts: number;
  readonly time: VirtualTime;
  readonly api: KubeApi;
  readonly logger?: AgentLogger;
  /** Undefined: every namespace. */
  readonly namespace?: string;
  /** Serve the agent's /metrics, /healthz, /readyz on this port (0: a free one); undefined: no endpoint. */
  readonly metricsPort?: number;
}

class Receipts implements LineReceipts {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, Array<{ count: number; resolve: () => void }>>();

  handled(rankKey: string): number {
    return this.counts.get(rankKey) ?? 0;
  }

  note(rankKey: string): void {
    const n = (this.counts.get(rankKey) ?? 0) + 1;
    this.counts.set(rankKey, n);
    const list = this.waiters.get(rankKey);
    if (list === undefined) return;
    const remaining = list.filter((w) => {
      if (w.count <= n) w.resolve();
      return w.count > n;
    });
    if (remaining.length === 0) this.waiters.delete(rankKey);
    else this.waiters.set(rankKey, remaining);
  }

  waitHandled(rankKey: string, count: number): Promise<void> {
    if (this.handled(rankKey) >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(rankKey) ?? [];
      list.push({ count, resolve });
      this.waiters.set(rankKey, list);
    });
  }
}

/** One run of the node agent process: the agent, its socket server, its Kubernetes wiring, its GPU handles. */
interface AgentIncarnation {
  readonly agent: NodeAgent;
  readonly wiring: KubeRankWiring;
  readonly server: AgentSocketServer;
  readonly handles: readonly FencedGpu[];
}

export class SimNode {
  readonly name: string;
  readonly gpus: readonly SimulatedGpu[];
  readonly receipts = new Receipts();
  readonly socketPath: string;
  private current: AgentIncarnation;
  /** Agent restarts after a simulated SIGKILL (`crashAgent`). */
  agentRestarts = 0;
  private readonly metrics: AgentMetrics | undefined;
  private http: Server | undefined;
  /** Pod key (namespace/name) → allocated GPU UUIDs. */
  private readonly allocations = new Map<string, readonly string[]>();

  constructor(readonly o: SimNodeOptions) {
    this.name = o.name;
    this.gpus = Array.from(
      { length: o.gpuCount },
      (_, i) => new SimulatedGpu({ index: i, uuid: `GPU-sim-${o.name}-${i}`, name: o.gpuName, profile: o.profile, time: o.time, blockingPowerWatts: o.blockingPowerWatts }),
    );
    this.metrics = o.metricsPort === undefined ? undefined : new AgentMetrics(o.name);
    const dir = join(o.hostRoot, AGENT_SOCKET_HOST_DIR);
    mkdirSync(dir, { recursive: true });
    this.socketPath = join(dir, AGENT_SOCKET_FILE);
    this.current = this.incarnation();
  }

  get agent(): NodeAgent {
    return this.current.agent;
  }

  get wiring(): KubeRankWiring {
    return this.current.wiring;
  }

  /** A new agent process on this node's GPUs (which keep whatever clocks a crashed predecessor locked). */
  private incarnation(): AgentIncarnation {
    const o = this.o;
    const handles = this.gpus.map((g) => new FencedGpu(g));
    const wiring = new KubeRankWiring({ api: o.api, clock: systemClock, nodeName: o.name, ...(o.logger === undefined ? {} : { logger: o.logger }), ...(o.namespace === undefined ? {} : { namespace: o.namespace }) });
    const agent = new NodeAgent({
      nodeName: o.name,
      gpus: handles,
      clock: o.time.agentClock,
      podGpus: { gpusForPod: (ns, pod) => Promise.resolve(this.allocations.get(`${ns}/${pod}`) ?? []) },
      statusSink: wiring.sink,
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      // API-server latency is wall time: keep the lease at two wall minutes whatever the time scale.
      apiServerLeaseMs: 120_000 * o.time.timeScale,
      // Count the lines the agent has acted on, per bound rank, so workers can hold simulated time until then.
      // (beside the agent's metrics, when served)
      observer: { ...(this.metrics?.observer ?? {}), lineHandled: (rank) => this.receipts.note(`${rank.namespace}/${rank.name}`) },
    });
    return { agent, wiring, server: new AgentSocketServer(agent, { path: this.socketPath }), handles };
  }

  async start(): Promise<void> {
    await this.startAgent();
    if (this.metrics !== undefined) {
      this.metrics.attach(this.agent);
      this.http = await serveAgentHttp({ port: this.o.metricsPort ?? 0, registry: this.metrics.registry, ready: () => this.agent.leaseValid });
    }
  }

  private async startAgent(): Promise<void> {
    const { agent, server, wiring } = this.current;
    agent.start();
    await server.listen();
    wiring.start(agent);
  }

  /**
   * Fault injection: the agent process is SIGKILLed. Its GPU handles are fenced first (a dead process makes
   * no NVML calls, so the GPUs keep the clocks it locked), then its connections, watch and timers end.
   */
  async crashAgent(): Promise<void> {
    const dead = this.current;
    for (const h of dead.handles) h.fence();
    await dead.server.close();
    await dead.wiring.stop();
    dead.agent.shutdown(); // stops its timers; the reset it attempts reaches no GPU
  }

  /** The DaemonSet starts the agent again after `crashAgent` (metrics stay with the first agent). */
  async restartAgent(): Promise<void> {
    this.current = this.incarnation();
    this.agentRestarts++;
    await this.startAgent();
  }

  /** The port of the agent's metrics endpoint, once started with `metricsPort`. */
  get metricsPort(): number | undefined {
    const addr = this.http?.address();
    return typeof addr === 'object' && addr !== null ? addr.port : undefined;
  }

  /** Free GPUs (not allocated to a pod). */
  freeGpus(): SimulatedGpu[] {
    const used = new Set([...this.allocations.values()].flat());
    return this.gpus.filter((g) => !used.has(g.uuid));
  }

  allocate(podKey: string, count: number): SimulatedGpu[] | undefined {
    const existing = this.allocations.get(podKey);
    if (existing !== undefined) return this.gpus.filter((g) => existing.includes(g.uuid));
    const free = this.freeGpus();
    if (free.length < count) return undefined;
    const chosen = free.slice(0, count);
    this.allocations.set(podKey, chosen.map((g) => g.uuid));
    return chosen;
  }

  release(podKey: string): void {
    this.allocations.delete(podKey);
  }

  /** Stops the agent (which resets every GPU clock), its socket and watch. */
  async stop(): Promise<void> {
    await this.current.wiring.stop();
    this.current.agent.shutdown();
    await this.current.server.close();
    const http = this.http;
    if (http !== undefined) {
      // Prometheus keeps its scrape connection open: drop it rather than wait for it.
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
    }
  }
}
