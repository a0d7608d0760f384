// The cluster a simulation runs on: the embedded API server (or an existing cluster through a kubeconfig)
// with the CRDs and the jobs' namespaces, the simulated GPU nodes with their real agents, the simulated
// kubelet, and the controller.
import { join } from 'node:path';
import { allCrds } from '../../api/crds.ts';
import type { StageProfile } from '../../api/planner-types.ts';
import type { AgentLogger } from '../../agent/types.ts';
import { Operator } from '../../controller/operator.ts';
import type { Logger } from '../../controller/log.ts';
import { ClientKubeApi, connectionFromFile, connectionFromYaml, type KubeApi } from '../../kube/client.ts';
import { ClientKubeletApi } from '../kubelet-api.ts';
import { startApiServer } from '../apiserver/index.ts';
import type { Fabric } from './fabric.ts';
import { SimKubelet } from './kubelet.ts';
import { SimNode } from './node.ts';
import { SIMULATED_NODE_LABEL, SIMULATED_NODE_TAINT } from './taint.ts';
import type { Teardown } from './teardown.ts';
import type { VirtualTime } from './virtual-time.ts';
import type { StragglerInjection } from './worker.ts';

/** How to reach the cluster and what to put in it. */
export interface ClusterOptions {
  /** Attach to this cluster instead of starting the embedded API server. */
  readonly kubeconfig?: string;
  /** Namespaces the jobs need. */
  readonly namespaces: Iterable<string>;
}

export interface Cluster {
  readonly api: KubeApi;
  readonly kubelet: ClientKubeletApi;
  /** True when the simulation started its own API server. */
  readonly embedded: boolean;
}

/** Starts the embedded API server (or attaches), installs the CRDs there, and creates the jobs' namespaces. */
export async function startCluster(o: ClusterOptions, teardown: Teardown): Promise<Cluster> {
  let api: KubeApi;
  let kubelet: ClientKubeletApi;
  if (o.kubeconfig === undefined) {
    const server = await startApiServer();
    teardown.push(() => server.stop());
    api = new ClientKubeApi(connectionFromYaml(server.kubeconfigYaml()));
    kubelet = ClientKubeletApi.fromKubeconfigYaml(server.kubeconfigYaml());
  } else {
    api = new ClientKubeApi(connectionFromFile(o.kubeconfig));
    kubelet = ClientKubeletApi.fromKubeconfigFile(o.kubeconfig);
  }
  const embedded = o.kubeconfig === undefined;
  if (embedded) await kubelet.installCrds(allCrds().map((c) => c.crd));
  for (const ns of o.namespaces) await kubelet.ensureNamespace(ns);
  return { api, kubelet, embedded };
}

export interface NodeOptions {
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly gpuName: string;
  readonly profile: StageProfile;
  readonly blockingPowerWatts: number;
  /** The nodes' root file systems lie below this directory. */
  readonly hostRoot: string;
  readonly time: VirtualTime;
  readonly logger: AgentLogger;
  readonly metricsPort?: number | undefined;
}

/** The node label value Kubernetes allows for a GPU product name. */
function productLabel(gpuName: string): string {
  return gpuName.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** Registers the simulated GPU nodes (Node objects with GPU capacity) and starts each node's agent. */
export async function startNodes(cluster: Cluster, o: NodeOptions, teardown: Teardown): Promise<SimNode[]> {
  const nodes: SimNode[] = [];
  const nodePrefix = cluster.embedded ? 'gpu-node' : 'perseus-sim-node';
  for (let i = 0; i < o.nodes; i++) {
    const name = `${nodePrefix}-${i}`;
    await cluster.kubelet.registerNode({
      name,
      labels: { 'kubernetes.io/hostname': name, 'nvidia.com/gpu.product': productLabel(o.gpuName), [SIMULATED_NODE_LABEL.key]: SIMULATED_NODE_LABEL.value },
      capacity: { cpu: '96', memory: '1Ti', pods: '110', 'nvidia.com/gpu': String(o.gpusPerNode) },
      // Nothing but the simulated jobs (which tolerate it) may land on a node whose kubelet is simulated.
      taints: [SIMULATED_NODE_TAINT],
    });
    // Metrics as deployed: node i's agent on metricsPort + 1 + i (0: any free port).
    const metricsPort = o.metricsPort === undefined ? undefined : o.metricsPort === 0 ? 0 : o.metricsPort + 1 + i;
    const node = new SimNode({ name, hostRoot: join(o.hostRoot, name), gpuCount: o.gpusPerNode, gpuName: o.gpuName, profile: o.profile, blockingPowerWatts: o.blockingPowerWatts, time: o.time, api: cluster.api, logger: o.logger, ...(metricsPort === undefined ? {} : { metricsPort }) });
    await node.start();
    nodes.push(node);
    teardown.push(() => node.stop());
    if (!cluster.embedded) teardown.push(() => cluster.kubelet.deleteNode(name));
  }
  return nodes;
}

export interface KubeletOptions {
  readonly nodes: readonly SimNode[];
  readonly fabric: Fabric;
  readonly time: VirtualTime;
  /** Bind pending pods (the embedded API server has no scheduler). */
  readonly schedule: boolean;
  readonly iterations: number;
  readonly straggler: StragglerInjection | undefined;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
}

/** Starts the simulated kubelet for the simulated nodes. */
export function startKubelet(cluster: Cluster, o: KubeletOptions, teardown: Teardown): SimKubelet {
  const simKubelet = new SimKubelet({
    api: cluster.api,
    kubelet: cluster.kubelet,
    clock: o.time.kubeClock,
    time: o.time,
    fabric: o.fabric,
    nodes: o.nodes,
    schedule: o.schedule,
    gpuResource: 'nvidia.com/gpu',
    iterations: o.iterations,
    ...(o.straggler === undefined ? {} : { straggler: o.straggler }),
    log: o.log,
  });
  simKubelet.start();
  teardown.push(() => simKubelet.stop());
  return simKubelet;
}

/** Starts the controller in this process; with `httpPort`, it serves /metrics there. Resolves its port. */
export async function startController(cluster: Cluster, time: VirtualTime, logger: Logger, teardown: Teardown, httpPort?: number): Promise<number | undefined> {
  const operator = new Operator({ api: cluster.api, clock: time.kubeClock, logger, identity: 'perseus-simulate', workers: 2, ...(httpPort === undefined ? {} : { httpPort }) });
  await operator.start();
  teardown.push(() => operator.stop());
  return operator.port;
}
