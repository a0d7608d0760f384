// `perseus agent`: the node agent. Wiring only: GPUs (NVML or simulated), pod-resources lookup, the local
// training API socket, metrics and health. Ranks come from this node's PerseusRanks (src/agent/kube-ranks.ts)
// or, for standalone use, from a static --ranks file.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import winston from 'winston';
import { NodeAgent } from '../agent/agent.ts';
import { AgentMetrics, serveAgentHttp } from '../agent/metrics.ts';
import { serveMetrics, type MetricsServer } from '../kube/metrics-server.ts';
import { DEFAULT_POD_RESOURCES_SOCKET, KubeletPodResources } from '../agent/pod-resources.ts';
import { resetClocksOnCrash } from '../agent/crash-reset.ts';
import { KubeRankWiring } from '../agent/kube-ranks.ts';
import { DEFAULT_EVENT_LOOP_NICE, niceError, setEventLoopNice } from '../agent/priority.ts';
import { AgentSocketServer } from '../agent/socket-server.ts';
import { parseStaticRanks } from '../agent/static-ranks.ts';
import type { AgentRankSpec } from '../agent/types.ts';
import { AGENT_DEFAULT_SOCKET, DEFAULT_GPU_RESOURCE } from '../api/names.ts';
import { ClientKubeApi, loadConnection, type KubeConnection } from '../kube/client.ts';
import { systemClock as kubeClock } from '../kube/clock.ts';
import type { GpuProvider } from '../nvml/gpu.ts';
import { ScaledSimTime } from '../nvml/sim-clock.ts';
import { SimulatedGpuProvider } from '../nvml/simulated-gpu.ts';
import type { StageProfile } from '../api/planner-types.ts';
import { parseStageProfileCsv } from '../planner/profile.ts';
import { durationFlag, FlagError, intFlag, numberFlag, parseFlags, runCommand } from './flags.ts';
import type { Command } from './main.ts';
import { METRICS_FLAG_SPEC, metricsEndpointOptions, metricsFlagsHelp } from './metrics-endpoint.ts';

const HELP = `Usage: perseus agent [flags]

Runs the node agent: owns this node's GPUs through NVML, serves the local training API, exports metrics.

  --socket PATH               training API socket (default ${AGENT_DEFAULT_SOCKET})
  --nvml-library PATH         libnvidia-ml (default libnvidia-ml.so.1; driver container:
                              /run/nvidia/driver/usr/lib64/libnvidia-ml.so.1)
  --pod-resources-socket PATH kubelet pod-resources socket (default ${DEFAULT_POD_RESOURCES_SOCKET})
  --gpu-resource NAME         extended resource of GPUs (default ${DEFAULT_GPU_RESOURCE})
  --simulated-gpus N          use N simulated GPUs instead of NVML (needs --gpu-profile)
  --gpu-profile CSV           stage profile the simulated GPUs follow
  --time-scale X              simulated seconds per real second (default 1)
  --node-name NAME            this node (default $NODE_NAME, else the hostname)
  --kubeconfig FILE           API server connection (default: in-cluster, else $KUBECONFIG or ~/.kube/config)
  --namespace NS              serve ranks of this namespace only (default: every namespace)
  --ranks FILE                static ranks (JSON array of rank specs) for standalone use, without Kubernetes
${metricsFlagsHelp(9400, 26)}                              (with --ranks, no API server: default false)
  --health-port N             /healthz, /readyz, plain HTTP (default 9401; 0 disables)
  --connection-grace T        reset a rank's GPUs this long after its client left (default 30s)
  --nice=N                    nice value of the thread that serves the socket and sets clocks, in
                              [-20, 19] (default ${DEFAULT_EVENT_LOOP_NICE}; below 0 needs CAP_SYS_NICE, else it
                              keeps its inherited value with a warning; write --nice=-10, not --nice -10)
`;

export const command: Command = {
  summary: 'Run the node agent (NVML clock control, local training API)',
  run: (argv) =>
    runCommand('agent', async () => {
      const { values } = parseFlags(argv, {
        socket: { type: 'string' },
        'nvml-library': { type: 'string' },
        'pod-resources-socket': { type: 'string' },
        'gpu-resource': { type: 'string' },
        'simulated-gpus': { type: 'string' },
        'gpu-profile': { type: 'string' },
        'time-scale': { type: 'string' },
        'node-name': { type: 'string' },
        ranks: { type: 'string' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        ...METRICS_FLAG_SPEC,
        'health-port': { type: 'string' },
        'connection-grace': { type: 'string' },
        nice: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      });
      if (values.help === true) {
        process.stdout.write(HELP);
        return 0;
      }
      const nice = niceFlag(values.nice);
      const staticRanks = values.ranks === undefined ? undefined : ranksFlag(values.ranks);
      const healthPort = intFlag('health-port', values['health-port'], 9401, 0, 65535);
      const standalone = values.ranks !== undefined;
      // Loaded after the metrics flags are checked, so that a flag error is reported as one, even without a kubeconfig.
      let loaded: KubeConnection | undefined;
      const connect = (): KubeConnection => (loaded ??= loadConnection(values.kubeconfig));
      const metricsEndpoint = metricsEndpointOptions(values, { port: 9400, ...(healthPort === 0 ? {} : { otherPort: { flag: 'health-port', port: healthPort } }) }, standalone ? undefined : connect);
      const connection = standalone ? undefined : connect();
      const connectionGraceMs = durationFlag('connection-grace', values['connection-grace'], 30) * 1000;
      const logger = winston.createLogger({ level: process.env.LOG_LEVEL ?? 'info', format: winston.format.json(), transports: [new winston.transports.Console()] });
      const nodeName = values['node-name'] ?? process.env.NODE_NAME ?? hostname();
      let provider: GpuProvider;
      if (values['simulated-gpus'] !== undefined) {
        const count = intFlag('simulated-gpus', values['simulated-gpus'], 1);
        if (values['gpu-profile'] === undefined) throw new FlagError('--gpu-profile: required with --simulated-gpus');
        const profile = gpuProfileFlag(values['gpu-profile']);
        provider = SimulatedGpuProvider.fromProfile(count, profile, new ScaledSimTime(numberFlag('time-scale', values['time-scale'], 1, 1e-6)), nodeName);
      } else {
        const { NvmlLibrary } = await import('../nvml/koffi-nvml.ts');
        provider = NvmlLibrary.open(values['nvml-library'] !== undefined ? { libraryPath: values['nvml-library'] } : {});
      }
      const podResources = new KubeletPodResources({
        socketPath: values['pod-resources-socket'] ?? DEFAULT_POD_RESOURCES_SOCKET,
        resourceNames: [values['gpu-resource'] ?? DEFAULT_GPU_RESOURCE],
      });
      const metrics = new AgentMetrics(nodeName);
      const wiring =
        connection === undefined
          ? undefined
          : new KubeRankWiring({
            api: new ClientKubeApi(connection, { fieldManager: 'perseus-agent' }),
            clock: kubeClock,
            nodeName,
            logger,
            ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
          });
      const agent = new NodeAgent({
        nodeName,
        gpus: provider.gpus,
        podGpus: podResources,
        statusSink: wiring?.sink ?? { write: (key, status) => Promise.resolve(void logger.info('Updated rank status', { namespace: key.namespace, rank: key.name, status })) },
        logger,
        observer: metrics.observer,
        connectionGraceMs,
        apiServerLeaseMs: standalone ? 0 : 120_000,
      });
      metrics.attach(agent);
      const priority = setEventLoopNice(nice);
      metrics.recordPriority(nice, priority.nice);
      if (priority.applied) logger.info('Set the event-loop thread priority', { nice: priority.nice });
      else logger.warn('Could not set the event-loop thread priority; clock changes may wait behind other work on this node', { requestedNice: priority.requested, nice: priority.nice, reason: priority.reason });
      // Signals are handled from before the first clock can be locked: a SIGTERM during startup still resets.
      let stopSignal: string | undefined;
      let wake: (() => void) | undefined;
      const stopped = new Promise<void>((resolve) => (wake = resolve));
      const onSignal = (signal: string): void => {
        stopSignal ??= signal;
        wake?.();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      const removeCrashReset = resetClocksOnCrash(agent, logger);
      let server: AgentSocketServer | undefined;
      let http: Awaited<ReturnType<typeof serveAgentHttp>> | undefined;
      let metricsServer: MetricsServer | undefined;
      // From here on clocks may be locked: whatever fails, the agent shuts down and resets them.
      try {
        agent.start();
        for (const spec of staticRanks ?? []) void agent.upsertRank(spec).catch(() => undefined);
        wiring?.start(agent);
        server = new AgentSocketServer(agent, { path: values.socket ?? AGENT_DEFAULT_SOCKET });
        await server.listen();
        http = healthPort > 0 ? await serveAgentHttp({ port: healthPort, registry: metrics.registry, ready: () => agent.leaseValid, metrics: false }) : undefined;
        metricsServer =
          metricsEndpoint === undefined
            ? undefined
            : await serveMetrics({ ...metricsEndpoint, source: metrics.registry, onError: (message, err) => logger.warn(message, { error: (err as Error | undefined)?.message }) });
        logger.info('Serving the training API', { socket: values.socket ?? AGENT_DEFAULT_SOCKET, gpus: provider.gpus.map((g) => g.uuid), metricsPort: metricsServer?.port, metricsSecure: metricsServer?.secure, healthPort });
        await stopped;
        logger.info('Stopping on signal', { signal: stopSignal });
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        removeCrashReset();
        // The reset must happen even when stopping the watch fails.
        await wiring?.stop().catch((err: unknown) => logger.warn('Stopping the rank watch failed', { error: (err as Error).message }));
        agent.shutdown();
        await server?.close();
        http?.close();
        await metricsServer?.close();
        podResources.close();
        provider.close();
      }
      return 0;
    }),
};

function niceFlag(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_EVENT_LOOP_NICE;
  const value = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  const invalid = niceError(value);
  if (invalid !== undefined) throw new FlagError(`--nice: expected an integer in [-20, 19], got "${raw}"`);
  return value;
}

function ranksFlag(file: string): AgentRankSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlagError(`--ranks: cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = parseStaticRanks(text);
  if (!parsed.ok) throw new FlagError(`--ranks ${file}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return parsed.value;
}

function gpuProfileFlag(file: string): StageProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlagError(`--gpu-profile: cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = parseStageProfileCsv(text);
  if (!parsed.ok) throw new FlagError(`--gpu-profile ${file}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return parsed.value;
}
