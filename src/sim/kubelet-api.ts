// Cluster operations that only a kubelet (and the simulator acting as one) performs: registering Nodes and
// their status, binding pods, finishing a graceful pod deletion, and installing CRDs and namespaces.
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { toKubeError } from '../kube/errors.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface SimNodeSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Resource capacity, e.g. { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' }. */
  readonly capacity: Readonly<Record<string, string>>;
  /** Taints of the node (spec.taints). */
  readonly taints?: readonly Taint[];
}

/** A node taint (core/v1 Taint without timeAdded). */
export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** What a (simulated) kubelet does beyond the generic KubeApi. */
export interface KubeletApi {
  /** Creates the Node when absent and writes its capacity and Ready condition. */
  registerNode(node: SimNodeSpec): Promise<void>;
  /** Renews the Ready condition (the node lifecycle controller marks silent nodes NotReady). */
  heartbeat(nodeName: string): Promise<void>;
  deleteNode(nodeName: string): Promise<void>;
  /** pods/binding: assigns a pod to a node (what the scheduler does). */
  bindPod(namespace: string, name: string, nodeName: string): Promise<void>;
  /** Finishes a deletion with gracePeriodSeconds=0 once the containers stopped (the kubelet's part). */
  deletePodNow(namespace: string, name: string): Promise<void>;
  ensureNamespace(name: string): Promise<void>;
  /** Creates each CRD that does not exist yet. */
  installCrds(crds: readonly unknown[]): Promise<void>;
}

function code(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

export class ClientKubeletApi implements KubeletApi {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
  }

  /** On the cluster of kubeconfig YAML text (the embedded API server's). */
  static fromKubeconfigYaml(text: string): ClientKubeletApi {
    const kc = new KubeConfig();
    kc.loadFromString(text);
    return new ClientKubeletApi(kc);
  }

  /** On the cluster of a kubeconfig file. */
  static fromKubeconfigFile(file: string): ClientKubeletApi {
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`cannot load kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
    }
    return new ClientKubeletApi(kc);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toKubeError(err, what);
    }
  }

  private readyStatus(capacity: Readonly<Record<string, string>> | undefined): Record<string, unknown> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      ...(capacity === undefined ? {} : { capacity, allocatable: capacity }),
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }],
      nodeInfo: { kubeletVersion: 'v1.30.0-perseus-sim', architecture: 'amd64', operatingSystem: 'linux' },
    };
  }

  async registerNode(node: SimNodeSpec): Promise<void> {
    try {
      await this.call(`create node ${node.name}`, () => this.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels: { ...node.labels } }, ...(node.taints === undefined ? {} : { spec: { taints: node.taints.map((t) => ({ ...t })) } }) } }));
    } catch (err) {
      if (code(err) !== 409) throw err;
    }
    await this.call(`patch node ${node.name} status`, () => this.core.patchNodeStatus({ name: node.name, body: { status: this.readyStatus(node.capacity) } }, mergePatch));
  }

  async heartbeat(nodeName: string): Promise<void> {
    await this.call(`patch node ${nodeName} status`, () => this.core.patchNodeStatus({ name: nodeName, body: { status: this.readyStatus(undefined) } }, mergePatch));
  }

  async deleteNode(nodeName: string): Promise<void> {
    try {
      await this.call(`delete node ${nodeName}`, () => this.core.deleteNode({ name: nodeName }));
    } catch (err) {
      if (code(err) !== 404) throw err;
    }
  }

  async bindPod(namespace: string, name: string, nodeName: string): Promise<void> {
    await this.call(`bind pod ${namespace}/${name}`, () =>
      this.core.createNamespacedPodBinding({ namespace, name, body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } } }),
    );
  }

  async deletePodNow(namespace: string, name: string): Promise<void> {
    try {
      await this.call(`delete pod ${namespace}/${name}`, () => this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }));
    } catch (err) {
      if (code(err) !== 404) throw err;
    }
  }

  async ensureNamespace(name: string): Promise<void> {
    try {
      await this.call(`create namespace ${name}`, () => this.core.createNamespace({ body: { metadata: { name } } }));
    } catch (err) {
      if (code(err) !== 409) throw err;
    }
  }

  async installCrds(crds: readonly unknown[]): Promise<void> {
    for (const crd of crds) {
      try {
        // Sent as plain JSON: the typed CRD call serializes through client-node's model, which knows the
        // schema extensions by their attribute names (x_kubernetes_preserve_unknown_fields) and silently
        // drops every `x-kubernetes-*` key of a plain object, and with it pruning and CEL rules.
        await this.call('create customresourcedefinition', () =>
          this.custom.createClusterCustomObject({ group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', body: crd as object }),
        );
      } catch (err) {
        if (code(err) !== 409) throw err;
      }
    }
  }
}
