// Integration harness: the embedded API server over HTTP, the CRDs installed, the real controller on top,
// and helpers that act as the node agent (rank status) and the kubelet (pod phases).
import * as k8s from '@kubernetes/client-node';
import { allCrds } from '../../src/api/crds.ts';
import type { PerseusRank, PerseusTrainingJob } from '../../src/api/index.ts';
import { systemClock } from '../../src/kube/clock.ts';
import { ClientKubeApi, type KubeObject, type ResourceKind } from '../../src/kube/client.ts';
import { connectionOf, kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { createLogger } from '../../src/controller/log.ts';
import { Operator, type OperatorOptions } from '../../src/controller/operator.ts';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, uniqueSuffix } from '../support/envtest.ts';
import { startTestServer, type ServerKind, type TestServer } from '../support/servers.ts';
import { syntheticProfile } from './fixtures.ts';

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const G = { group: 'perseus.energy', version: 'v1alpha1' };

export class Harness {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  /** The node agent's view: rank status writes go through its identity (the chart's ServiceAccount on the real server). */
  agentCustom: k8s.CustomObjectsApi;
  operators: Operator[] = [];
  private tokens = 0;
  private kubelet: NodeJS.Timeout | undefined;

  private constructor(
    readonly server: TestServer,
    /** Administrator: the test's own reads and the kubelet's writes. */
    readonly kc: k8s.KubeConfig,
    /** The controller's identity. */
    readonly operatorKc: k8s.KubeConfig,
    agentKc: k8s.KubeConfig,
    /** The namespace the test's jobs live in (unique per test on the shared real server). */
    readonly ns: string,
    /** Where the controller's leader-election Lease may live (its Role's namespace on the real server). */
    readonly leaseNamespace: string,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.agentCustom = agentKc.makeApiClient(k8s.CustomObjectsApi);
  }

  /**
   * Embedded: a fresh server with the CRDs and the namespace. Real: the run's control plane, a unique
   * namespace, the controller and agent acting as the chart's ServiceAccounts, and this harness finishing
   * the graceful deletion of pods as the kubelet of the fake node would.
   */
  static async start(namespace = 'ml', kind: ServerKind = 'embedded'): Promise<Harness> {
    if (kind === 'kube-apiserver') {
      const ids = await chartIdentities(await controlPlane());
      const server = await startTestServer(kind);
      const ns = `${namespace}-${uniqueSuffix()}`;
      const kc = kubeConfigFromYaml(server.kubeconfigYaml());
      const h = new Harness(server, kc, kubeConfigFromYaml(ids.controllerKubeconfig), kubeConfigFromYaml(ids.agentKubeconfig), ns, ids.namespace);
      await h.core.createNamespace({ body: { metadata: { name: ns } } });
      await waitFor(`ServiceAccount ${ns}/default`, async () => (await h.core.readNamespacedServiceAccount({ namespace: ns, name: 'default' })) !== undefined, 30_000);
      h.kubelet = setInterval(() => void h.finishDeletions().catch(() => undefined), 200);
      return h;
    }
    const server = await startTestServer(kind);
    const kc = kubeConfigFromYaml(server.kubeconfigYaml());
    // As plain JSON: the typed model would drop x-kubernetes-preserve-unknown-fields under `properties`.
    const crds: ResourceKind = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition' };
    for (const { crd } of allCrds()) await new ClientKubeApi(connectionOf(kc)).create(crds, undefined as unknown as string, crd as unknown as KubeObject);
    const h = new Harness(server, kc, kc, kc, namespace, namespace);
    await h.core.createNamespace({ body: { metadata: { name: namespace } } });
    return h;
  }

  /** As the kubelet: pods marked for graceful deletion are removed once "stopped". */
  private async finishDeletions(): Promise<void> {
    for (const pod of await this.pods()) {
      if (pod.metadata?.deletionTimestamp) await this.core.deleteNamespacedPod({ namespace: this.ns, name: pod.metadata.name ?? '', gracePeriodSeconds: 0 }).catch(() => undefined);
    }
  }

  async startOperator(identity: string, options: Partial<OperatorOptions> = {}): Promise<Operator> {
    const op = new Operator({
      api: new ClientKubeApi(connectionOf(this.operatorKc)),
      // On the shared real server a controller sees only its test's namespace.
      ...(this.server.kind === 'kube-apiserver' ? { namespaces: [this.ns] } : {}),
      clock: systemClock,
      logger: createLogger(process.env['PERSEUS_TEST_LOG_LEVEL'] ?? 'error', true),
      identity,
      workers: 2,
      mintToken: () => `token-${identity}-${++this.tokens}`,
      ...options,
    });
    this.operators.push(op);
    await op.start();
    return op;
  }

  async stopOperator(op: Operator): Promise<void> {
    await op.stop();
    this.operators = this.operators.filter((o) => o !== op);
  }

  async stop(): Promise<void> {
    for (const op of this.operators) await op.stop();
    clearInterval(this.kubelet);
    await this.server.stop();
  }

  createJob(job: unknown, namespace = this.ns): Promise<unknown> {
    const body = { ...(job as Record<string, unknown>), metadata: { ...((job as { metadata?: object }).metadata ?? {}), namespace } };
    return this.custom.createNamespacedCustomObject({ ...G, plural: 'perseustrainingjobs', namespace, body });
  }

  async job(name: string, namespace = this.ns): Promise<PerseusTrainingJob> {
    return (await this.custom.getNamespacedCustomObject({ ...G, plural: 'perseustrainingjobs', namespace, name })) as PerseusTrainingJob;
  }

  async patchJobSpec(name: string, spec: unknown, namespace = this.ns): Promise<void> {
    await this.custom.patchNamespacedCustomObject({ ...G, plural: 'perseustrainingjobs', namespace, name, body: { spec } }, merge);
  }

  async ranks(namespace = this.ns): Promise<PerseusRank[]> {
    const list = (await this.custom.listNamespacedCustomObject({ ...G, plural: 'perseusranks', namespace })) as { items: PerseusRank[] };
    return list.items;
  }

  async pods(namespace = this.ns): Promise<k8s.V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace })).items;
  }

  async events(namespace = this.ns): Promise<k8s.CoreV1Event[]> {
    return (await this.core.listNamespacedEvent({ namespace })).items;
  }

  /** As the node agent: writes a rank's status. */
  async reportRank(name: string, status: unknown, namespace = this.ns): Promise<void> {
    await this.agentCustom.patchNamespacedCustomObjectStatus({ ...G, plural: 'perseusranks', namespace, name, body: { status } }, merge);
  }

  /** As the agents of pipeline 0: every profiling rank reports its stage profile. */
  async reportProfiles(job: string, stages: number): Promise<void> {
    const profile = syntheticProfile(stages);
    for (let s = 0; s < stages; s++) {
      await this.reportRank(`${job}-p0-s${s}`, {
        node: 'node-a',
        gpuUuids: [`GPU-${s}`],
        stageProfile: profile.measurements.filter((m) => m.stage === s),
        blockingPowerWatts: 70,
        conditions: [{ type: 'Profiled', status: 'True', reason: 'SweepComplete', message: 'Swept 5 clocks', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
      });
    }
  }

  /** As the kubelet: sets a pod's phase. */
  async setPodPhase(name: string, phase: string, namespace = this.ns): Promise<void> {
    await this.core.patchNamespacedPodStatus({ name, namespace, body: { status: { phase } } }, merge);
  }
}

/** Polls `check` until it returns a value (not undefined/false) or the time runs out. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function waitForPhase(h: Harness, name: string, phase: string, timeoutMs = 15_000): Promise<PerseusTrainingJob> {
  return waitFor(`phase ${phase}`, async () => {
    const job = await h.job(name);
    return job.status?.phase === phase ? job : undefined;
  }, timeoutMs);
}

export function jobManifest(name = 'gpt', spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'perseus.energy/v1alpha1',
    kind: 'PerseusTrainingJob',
    metadata: { name, namespace: 'ml' },
    spec: {
      topology: { stages: 3, dataParallel: 2, microbatches: 4 },
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'trainer', image: 'example/train:1' }] } },
      straggler: { window: 3, threshold: 0.1, cooldownSeconds: 0 },
      ...spec,
    },
  };
}
