// The simulated kubelet under lost writes, as its real counterpart's status manager behaves: a pod status
// that the API server did not take (a reset connection, a 503) is sent again until it is, and a container
// that exited is never started again (restartPolicy Never). Without both, a lost terminal report leaves
// the pod Running, the kubelet starts a second worker for it, and the job never finishes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allCrds } from '../../src/api/crds.ts';
import { ClientKubeApi, connectionFromYaml, PODS, type KubeApi } from '../../src/kube/client.ts';
import { ClientKubeletApi } from '../../src/sim/kubelet-api.ts';
import { runSimulation } from '../../src/sim/simulate/simulation.ts';
import { kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { startTestServer, type TestServer } from '../support/servers.ts';
import { a100SimulationOptions } from './helpers.ts';

const NAMESPACE = 'lost-status';
/** Its first status write (Running) is lost. */
const LOST_START = 'gpt3-p0-s1';
/** Its terminal status write (Succeeded) is lost, three times over. */
const LOST_END = 'gpt3-p0-s0';

function phaseOf(pod: { [k: string]: unknown } | undefined): string | undefined {
  return (pod?.['status'] as { phase?: string } | undefined)?.phase;
}

/** Once LOST_END runs, fails its next three status writes (its terminal report and two retries). */
async function loseTerminalReport(server: TestServer, api: KubeApi, run: Promise<unknown>): Promise<void> {
  let finished = false;
  void run.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    if (phaseOf(await api.get(PODS, NAMESPACE, LOST_END)) === 'Running') {
      server.embedded!.faults.failNext({ verb: 'patch', path: new RegExp(`/pods/${LOST_END}/status$`) }, 503, 3);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the simulation ended before ${LOST_END} ran`);
}

describe('simulated kubelet: lost pod status writes', function () {
  this.timeout(180_000);
  let server: TestServer;
  let dir: string;

  before(async () => {
    server = await startTestServer('embedded');
    dir = mkdtempSync(join(tmpdir(), 'perseus-kubelet-'));
    await new ClientKubeletApi(kubeConfigFromYaml(server.kubeconfigYaml())).installCrds(allCrds().map((c) => c.crd));
  });

  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports a lost Running and a lost Succeeded again, never starts an exited container twice, and the job finishes', async () => {
    const kubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, server.kubeconfigYaml());
    const api = new ClientKubeApi(connectionFromYaml(server.kubeconfigYaml()));
    server.embedded!.faults.failNext({ verb: 'patch', path: new RegExp(`/pods/${LOST_START}/status$`) }, 503, 1);
    const run = runSimulation(a100SimulationOptions(8, { namespace: NAMESPACE, kubeconfig, logLevel: 'error', schedulePods: true, timeoutMs: 120_000 }));
    await loseTerminalReport(server, api, run);
    const result = await run;

    const status = result.jobs[0]!.status;
    assert.equal(status?.phase, 'Succeeded', `phase ${status?.phase}; conditions ${JSON.stringify(status?.conditions)}`);
    assert.equal(status?.restarts ?? 0, 0, 'no gang restart');
    const started = await api.get(PODS, NAMESPACE, LOST_START);
    assert.equal(phaseOf(started), 'Succeeded');
    assert.ok((started?.['status'] as { startTime?: string }).startTime !== undefined, `${LOST_START}: its Running status (startTime) was sent again`);
    const ended = await api.get(PODS, NAMESPACE, LOST_END);
    assert.equal(phaseOf(ended), 'Succeeded', `${LOST_END}: its terminal status was sent again`);
    const terminated = (ended?.['status'] as { containerStatuses?: Array<{ state?: { terminated?: { exitCode: number } } }> }).containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 0);
    assert.ok(result.clocksResetAtEnd, 'every simulated GPU clock is reset at the end');
  });
});
