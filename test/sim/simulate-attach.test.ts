// perseus simulate --kubeconfig: the simulated nodes, kubelet and workers attached to a separately
// started API server (here the embedded one as a stand-in cluster, with no scheduler of its own), with the
// controller running on its own: the job completes, simulated Nodes are registered and removed again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/controller/log.ts';
import { Operator } from '../../src/controller/operator.ts';
import { systemClock } from '../../src/kube/clock.ts';
import { ClientKubeApi, connectionFromYaml } from '../../src/kube/client.ts';
import { startApiServer, type ApiServer } from '../../src/sim/apiserver/index.ts';
import { summarizeJob } from '../../src/sim/simulate/report.ts';
import { runSimulation, SimulationError } from '../../src/sim/simulate/simulation.ts';
import { kubectlPath } from '../support/kube-tools.ts';
import { a100SimulationOptions } from './helpers.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

// Asynchronous: the API server under test runs in this process and must keep answering.
const run = promisify(execFile);

describe('perseus simulate --kubeconfig (attached to a separate API server and controller)', function () {
  this.timeout(300_000);
  let server: ApiServer;
  let operator: Operator;
  let dir: string;
  let kubeconfig: string;

  before(async () => {
    server = await startApiServer();
    dir = mkdtempSync(join(tmpdir(), 'perseus-attach-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, server.kubeconfigYaml());
    await run(await kubectlPath(), ['--kubeconfig', kubeconfig, 'apply', '-f', 'crds/']);
    const kc = connectionFromYaml(server.kubeconfigYaml());
    operator = new Operator({ api: new ClientKubeApi(kc), clock: systemClock, logger: createLogger('error', true), identity: 'attach-test' });
    await operator.start();
  });

  after(async () => {
    await operator?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const options = () => a100SimulationOptions(24, { kubeconfig, runController: false, schedulePods: true });

  it('runs the job to completion and saves energy at the all-max time, scheduling only pods that tolerate the simulated nodes', async () => {
    // A bystander pod of another workload: it must not land on a simulated node.
    const bystander = join(dir, 'bystander.yaml');
    writeFileSync(bystander, 'apiVersion: v1\nkind: Pod\nmetadata: {name: bystander, namespace: default}\nspec: {containers: [{name: c, image: busybox}]}\n');
    await run(await kubectlPath(), ['--kubeconfig', kubeconfig, 'apply', '-f', bystander]);
    const result = await runSimulation(options());
    const job = result.jobs[0]!;
    assert.equal(job.status?.phase, 'Succeeded');
    assert.ok(result.clocksResetAtEnd, 'every GPU clock reset at the end');
    const s = summarizeJob(job, result);
    assert.ok(Math.abs(s.slowdownRatio!) <= 0.01, `slowdown ${s.slowdownRatio}`);
    assert.ok(s.savingsRatio! >= 0.1, `savings ${s.savingsRatio}`);
    const nodes = JSON.parse((await run(await kubectlPath(), ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'json'])).stdout);
    assert.equal(nodes.items.length, 0, 'the simulated Nodes are removed when the simulation ends');
    const pods = JSON.parse((await run(await kubectlPath(), ['--kubeconfig', kubeconfig, 'get', 'pods', '-A', '-o', 'json'])).stdout) as { items: { metadata: { name: string; namespace: string }; spec: { nodeName?: string; tolerations?: { key?: string; value?: string; effect?: string }[] } }[] };
    assert.equal(pods.items.find((p) => p.metadata.name === 'bystander')?.spec.nodeName, undefined, 'the bystander pod stays unscheduled');
    const workers = pods.items.filter((p) => p.metadata.namespace === 'perseus-sim');
    assert.ok(workers.length > 0 && workers.every((p) => p.spec.nodeName?.startsWith('perseus-sim-node-') === true), workers.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(' '));
    for (const p of workers) assert.ok(p.spec.tolerations?.some((t) => t.key === 'perseus.energy/simulated' && t.value === 'true' && t.effect === 'NoSchedule'), `${p.metadata.name} tolerates the simulated nodes`);
  });

  it('refuses to re-run a job that already exists, with a message naming it', async () => {
    await assert.rejects(runSimulation(options()), (err: unknown) => err instanceof SimulationError && /perseus-sim\/gpt3 already exists/.test(err.message));
  });
});
