// A real agent process for client and signal tests: the socket server over the fake NVML library (or
// simulated GPUs) with static ranks. Usage: tsx test/agent/serve-fake-agent.ts <config.json>
// Config: { socketPath, nvmlLibrary? | simulatedGpus + profileCsv, ranks: [{ ...AgentRankSpec, gpus }], httpPort? }
// Prints `READY <socketPath>` once listening; resets every GPU and exits 0 on SIGTERM.
import { readFileSync } from 'node:fs';
import { NodeAgent } from '../../src/agent/agent.ts';
import { AgentMetrics, serveAgentHttp } from '../../src/agent/metrics.ts';
import { AgentSocketServer } from '../../src/agent/socket-server.ts';
import type { AgentRankSpec } from '../../src/agent/types.ts';
import type { Gpu, GpuProvider } from '../../src/nvml/gpu.ts';
import { NvmlLibrary } from '../../src/nvml/koffi-nvml.ts';
import { ScaledSimTime } from '../../src/nvml/sim-clock.ts';
import { SimulatedGpuProvider } from '../../src/nvml/simulated-gpu.ts';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';

interface Config {
  socketPath: string;
  nvmlLibrary?: string;
  simulatedGpus?: number;
  profileCsv?: string;
  ranks: (AgentRankSpec & { gpus: string[] })[];
  httpPort?: number;
  connectionGraceMs?: number;
}

const config = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as Config;
const provider: GpuProvider =
  config.nvmlLibrary !== undefined
    ? NvmlLibrary.open({ libraryPath: config.nvmlLibrary })
    : SimulatedGpuProvider.fromProfile(config.simulatedGpus ?? 1, unwrap(parseStageProfileCsv(readFileSync(config.profileCsv ?? '', 'utf8'))), new ScaledSimTime(1));
const gpus: readonly Gpu[] = provider.gpus;
const metrics = new AgentMetrics('fake-node');
const pods = new Map(config.ranks.map((r) => [`${r.namespace}/${r.podName}`, r.gpus]));
const agent = new NodeAgent({
  nodeName: 'fake-node',
  gpus,
  podGpus: { gpusForPod: (ns, pod) => Promise.resolve(pods.get(`${ns}/${pod}`) ?? []) },
  statusSink: { write: (key, status) => Promise.resolve(void process.stdout.write(`STATUS ${key.namespace}/${key.name} ${JSON.stringify(status)}\n`)) },
  observer: metrics.observer,
  apiServerLeaseMs: 0,
  ...(config.connectionGraceMs !== undefined ? { connectionGraceMs: config.connectionGraceMs } : {}),
});
metrics.attach(agent);
agent.start();
for (const { gpus: _g, ...spec } of config.ranks) await agent.upsertRank(spec);
const server = new AgentSocketServer(agent, { path: config.socketPath });
await server.listen();
const http = config.httpPort !== undefined ? await serveAgentHttp({ port: config.httpPort, host: '127.0.0.1', registry: metrics.registry, ready: () => true }) : undefined;
// The handler is in place before READY: a SIGTERM sent as soon as READY is read must reset the GPUs.
process.on('SIGTERM', () => {
  agent.shutdown();
  provider.close();
  http?.close();
  void server.close().then(() => process.exit(0));
});
process.stdout.write(`READY ${config.socketPath}\n`);
