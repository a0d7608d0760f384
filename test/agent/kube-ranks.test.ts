// The node agent's Kubernetes wiring against the embedded API server: ranks of this node reach the agent,
// plans drive the simulated GPUs' clocks, status lands on the status subresource, Idle resets the clocks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../../src/agent/agent.ts';
import { ManualClock } from '../../src/agent/clock.ts';
import { KubeRankWiring } from '../../src/agent/kube-ranks.ts';
import { agentRankSpecOf } from '../../src/agent/rank-spec.ts';
import { allCrds } from '../../src/api/crds.ts';
import type { PerseusRank } from '../../src/api/index.ts';
import type { StageProfile } from '../../src/api/planner-types.ts';
import { ClientKubeApi } from '../../src/kube/client.ts';
import { connectionOf, kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { systemClock } from '../../src/kube/clock.ts';
import { ManualSimTime } from '../../src/nvml/sim-clock.ts';
import { SimulatedGpuProvider } from '../../src/nvml/simulated-gpu.ts';
import { waitFor } from '../controller/harness.ts';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, uniqueSuffix } from '../support/envtest.ts';
import { describeOnServers, startTestServer, type TestServer } from '../support/servers.ts';

const G = { group: 'perseus.energy', version: 'v1alpha1', plural: 'perseusranks' };
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const profile: StageProfile = {
  stageCount: 1,
  measurements: [1410, 1200, 1005].flatMap((f) => [
    { stage: 0, instruction: 'forward' as const, frequencyMhz: f, timeSeconds: 0.05 * (1410 / f), energyJoules: 20 },
    { stage: 0, instruction: 'backward' as const, frequencyMhz: f, timeSeconds: 0.1 * (1410 / f), energyJoules: 40 },
  ]),
};

function rank(name: string, node: string, spec: Record<string, unknown>, namespace = 'ml'): Record<string, unknown> {
  return {
    apiVersion: 'perseus.energy/v1alpha1',
    kind: 'PerseusRank',
    metadata: { name, namespace, labels: { 'perseus.energy/node': node } },
    spec: { jobName: 'job', pipeline: 0, stage: 0, podName: `${name}-pod`, nodeName: node, tokenSha256: sha256('t'), ...spec },
  };
}

describe('agent Kubernetes wiring', () => {
  it('maps a PerseusRank profile spec, exact clock list included, to the agent sweep', () => {
    const obj = rank('job-p0-s0', 'gpu-1', {
      mode: 'Profile',
      profile: { warmupIterations: 2, iterationsPerClock: 5, clockStrideMhz: 30, frequenciesMhz: [1410, 1200], minFrequencyMhz: 1000 },
    }) as unknown as Parameters<typeof agentRankSpecOf>[0];
    assert.deepEqual(agentRankSpecOf(obj)?.profiling, { warmupIterations: 2, iterationsPerClock: 5, clockStrideMhz: 30, earlyStop: true, frequenciesMhz: [1410, 1200], minFrequencyMhz: 1000 });
  });

});

describeOnServers('agent Kubernetes wiring', (kind) => {
  let server: TestServer;
  let custom: k8s.CustomObjectsApi;
  let wiring: KubeRankWiring;
  let agent: NodeAgent;
  let provider: SimulatedGpuProvider;
  let ns: string;

  beforeEach(async () => {
    // On the real server the CRDs are installed once per run (before the server's snapshot, so they stay),
    // and the agent acts as the chart's ServiceAccount.
    const identities = kind === 'kube-apiserver' ? await chartIdentities(await controlPlane()) : undefined;
    server = await startTestServer(kind);
    const kc = kubeConfigFromYaml(server.kubeconfigYaml());
    let agentKc = kc;
    if (identities) {
      agentKc = kubeConfigFromYaml(identities.agentKubeconfig);
      ns = `ml-${uniqueSuffix()}`;
    } else {
      const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
      for (const { crd } of allCrds()) await ext.createCustomResourceDefinition({ body: crd as never });
      ns = 'ml';
    }
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    provider = SimulatedGpuProvider.fromProfile(2, profile, new ManualSimTime(), 'node-a');
    wiring = new KubeRankWiring({ api: new ClientKubeApi(connectionOf(agentKc)), clock: systemClock, nodeName: 'node-a' });
    const gpusOf: Record<string, string[]> = { 'r1-pod': ['GPU-sim-node-a-0'], 'r2-pod': ['GPU-sim-node-a-1'] };
    agent = new NodeAgent({
      nodeName: 'node-a',
      gpus: provider.gpus,
      clock: new ManualClock(0),
      statusIntervalMs: 0,
      podGpus: { gpusForPod: (_ns, pod) => Promise.resolve(gpusOf[pod] ?? []) },
      statusSink: wiring.sink,
    });
    agent.start();
    wiring.start(agent);
  });

  afterEach(async () => {
    await wiring.stop();
    agent.shutdown();
    await server.stop();
  });

  const get = async (name: string): Promise<PerseusRank> => (await custom.getNamespacedCustomObject({ ...G, namespace: ns, name })) as PerseusRank;

  it('applies a Run-mode plan, writes status, and resets the clocks when the rank goes Idle', async () => {
    const gpu = provider.gpus[0]!;
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: ns,
      body: rank('r1', 'node-a', { mode: 'Run', plan: { generation: 3, granularity: 'Stage', modelIterationSeconds: 1, frequencyMhz: 1200 } }, ns),
    });
    await waitFor('the stage clock', () => Promise.resolve(gpu.lockedGpuClockMhz() === 1200));
    const applied = await waitFor('status', async () => {
      const r = await get('r1');
      return r.status?.appliedPlanGeneration === 3 ? r : undefined;
    });
    assert.equal(applied.status?.node, 'node-a');
    assert.deepEqual(applied.status?.gpuUuids, ['GPU-sim-node-a-0']);
    const cond = applied.status?.conditions?.find((c) => c.type === 'PlanApplied');
    assert.equal(cond?.status, 'True');
    assert.equal(provider.gpus[1]!.lockedGpuClockMhz(), undefined, 'the other GPU is untouched');

    await custom.patchNamespacedCustomObject({ ...G, namespace: ns, name: 'r1', body: { spec: { mode: 'Idle' } } }, merge);
    await waitFor('the reset', () => Promise.resolve(gpu.lockedGpuClockMhz() === undefined));
    const idle = await waitFor('Idle status', async () => {
      const r = await get('r1');
      return r.status?.conditions?.find((c) => c.type === 'PlanApplied')?.reason === 'Idle' ? r : undefined;
    });
    assert.equal(idle.status?.appliedPlanGeneration, undefined, 'the applied generation is removed');
  });

  it('enforces an Instruction plan per computation and ignores ranks of other nodes', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: ns, body: rank('r9', 'node-b', { mode: 'Run', plan: { generation: 1, granularity: 'Stage', modelIterationSeconds: 1, frequencyMhz: 1005 } }, ns) });
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: ns,
      body: rank('r2', 'node-a', {
        mode: 'Run',
        plan: {
          generation: 1,
          granularity: 'Instruction',
          modelIterationSeconds: 1,
          computations: [
            { instruction: 'forward', microbatch: 0, chunk: 0, frequencyMhz: 1005 },
            { instruction: 'backward', microbatch: 0, chunk: 0, frequencyMhz: 1410 },
          ],
        },
      }, ns),
    });
    await waitFor('the rank', () => Promise.resolve(wiring.ranks().some((r) => r.name === 'r2')));
    assert.deepEqual(wiring.ranks().map((r) => r.name), ['r2']);
    const replies: unknown[] = [];
    const session = agent.openSession((r) => replies.push(r), () => undefined);
    session.handleLine(JSON.stringify({ type: 'hello', v: 1, namespace: ns, rank: 'r2', pod: 'r2-pod', token: 't' }));
    await waitFor('hello', () => Promise.resolve(replies.length > 0));
    assert.deepEqual((replies[0] as { ok?: boolean }).ok, true);
    const gpu = provider.gpus[1]!;
    session.handleLine(JSON.stringify({ type: 'begin', instruction: 'forward', microbatch: 0 }));
    assert.equal(gpu.lockedGpuClockMhz(), 1005);
    session.handleLine(JSON.stringify({ type: 'begin', instruction: 'backward', microbatch: 0 }));
    assert.equal(gpu.lockedGpuClockMhz(), 1410);
    session.close();
    await custom.deleteNamespacedCustomObject({ ...G, namespace: ns, name: 'r2' });
    await waitFor('the removal', () => Promise.resolve(wiring.ranks().length === 0));
    assert.equal(gpu.lockedGpuClockMhz(), undefined);
  });
});
