// perseus simulate --kubeconfig on the real control plane (kube-apiserver, kube-scheduler, the controller
// manager): the job completes with the savings of the embedded run, every simulated GPU clock is reset and
// the simulated Nodes are deleted, with the controller in-process and with a separate `perseus controller`
// process acting as the chart's ServiceAccount. The cluster's scheduler binds the workers; a Ready GPU
// node of the cluster without the simulated label (envtest-gpu-node) must receive none of them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultJob } from '../../src/sim/simulate/job.ts';
import { summarizeJob, type JobSummary } from '../../src/sim/simulate/report.ts';
import { runSimulation, type SimulationOptions } from '../../src/sim/simulate/simulation.ts';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, envtestUnavailable, uniqueSuffix, type ControlPlane } from '../support/envtest.ts';
import { startTestServer, type TestServer } from '../support/servers.ts';
import { a100SimulationOptions } from './helpers.ts';

const ITERATIONS = 24;
/**
 * Time scale of the runs on kube-apiserver: its watch and status round trips take wall time, which the
 * simulation's clock turns into simulated time; at 50× they stay well inside an iteration on a loaded
 * machine (the embedded reference runs at 200×).
 */
const REAL_TIME_SCALE = 50;

function options(namespace: string, extra: Partial<SimulationOptions>): SimulationOptions {
  // A run on kube-apiserver took about 80 s in CI at 50×, and twice that on a loaded machine.
  return a100SimulationOptions(ITERATIONS, { namespace, logLevel: 'error', timeoutMs: 600_000, ...extra });
}

/** Runs a simulation and returns its job's summary, asserting what every run must give. */
async function simulate(o: SimulationOptions): Promise<JobSummary> {
  const result = await runSimulation(o);
  const job = result.jobs[0]!;
  assert.equal(job.status?.phase, 'Succeeded', `job phase ${job.status?.phase}`);
  assert.ok(result.clocksResetAtEnd, 'every simulated GPU clock is reset at the end');
  const s = summarizeJob(job, result);
  assert.ok(s.savingsRatio !== undefined && s.slowdownRatio !== undefined, 'the run measured the plan');
  assert.ok(Math.abs(s.slowdownRatio) <= 0.01, `slowdown ${s.slowdownRatio}; plan generations ${JSON.stringify(job.generations)}`);
  return s;
}

describe('perseus simulate --kubeconfig on kube-apiserver', function () {
  this.timeout(900_000);
  const unavailable = envtestUnavailable();
  if (unavailable) {
    it(`skipped: ${unavailable}`, function () {
      this.skip();
    });
    return;
  }
  let cp: ControlPlane;
  let server: TestServer;
  let dir: string;
  let embedded: JobSummary;

  before(async function () {
    this.timeout(300_000);
    cp = await controlPlane();
    await chartIdentities(cp);
    server = await startTestServer('kube-apiserver');
    dir = mkdtempSync(join(tmpdir(), 'perseus-simulate-real-'));
    // The reference: the same job on the embedded cluster.
    embedded = await simulate(options('perseus-sim', {}));
  });

  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function assertClusterClean(namespace: string): Promise<void> {
    const nodes = (await cp.adminRequest('GET', '/api/v1/nodes?labelSelector=perseus.energy%2Fsimulated')).body as { items: unknown[] };
    assert.equal(nodes.items.length, 0, 'the simulated Nodes are deleted when the simulation ends');
    const pods = (await cp.adminRequest('GET', `/api/v1/namespaces/${namespace}/pods`)).body as { items: { metadata: { name: string }; spec: { nodeName?: string } }[] };
    assert.ok(pods.items.length > 0, 'the run left its finished pods');
    for (const p of pods.items) assert.match(p.spec.nodeName ?? '', /^perseus-sim-node-\d+$/, `${p.metadata.name} was bound by kube-scheduler to a simulated node`);
  }

  function assertSameSavings(s: JobSummary): void {
    const diff = Math.abs(s.savingsRatio! - embedded.savingsRatio!) * 100;
    assert.ok(diff <= 0.5, `savings ${(s.savingsRatio! * 100).toFixed(2)} % against ${(embedded.savingsRatio! * 100).toFixed(2)} % on the embedded server`);
  }

  it('with the controller in-process: the embedded run\'s savings, clocks reset, Nodes deleted', async () => {
    const namespace = `sim-inproc-${uniqueSuffix()}`;
    const kubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, cp.adminKubeconfigYaml);
    const s = await simulate(options(namespace, { kubeconfig, schedulePods: !cp.scheduler, timeScale: REAL_TIME_SCALE }));
    assertSameSavings(s);
    await assertClusterClean(namespace);
  });

  it('with --no-controller and a separate `perseus controller` as the chart\'s ServiceAccount: the same', async () => {
    const ids = await chartIdentities(cp);
    const namespace = `sim-separate-${uniqueSuffix()}`;
    const controllerKubeconfig = join(dir, 'controller.kubeconfig');
    writeFileSync(controllerKubeconfig, ids.controllerKubeconfig);
    // The simulation itself (nodes, kubelet, agents, workers) acts as the administrator, as a user would.
    const kubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, cp.adminKubeconfigYaml);
    const controller = startController(controllerKubeconfig);
    try {
      // A separate controller works in wall time (docs/simulate.md: the time scale with a separate
      // controller); its straggler check is off, no straggler runs here.
      const job = defaultJob({ pipelines: 2, iterations: ITERATIONS, namespace });
      (job.spec as { straggler: { enabled: boolean } }).straggler.enabled = false;
      const s = await simulate({ ...options(namespace, { kubeconfig, runController: false, schedulePods: !cp.scheduler, timeScale: REAL_TIME_SCALE }), jobs: [job] });
      assertSameSavings(s);
      await assertClusterClean(namespace);
    } finally {
      await stopController(controller);
    }
    assert.doesNotMatch(controller.log, /"level":"error"|forbidden/i, 'the controller had every permission it needed');
  });
});

interface Controller {
  readonly child: ChildProcess;
  log: string;
}

function startController(kubeconfig: string): Controller {
  const child = spawn(process.execPath, ['bin/perseus.js', 'controller', '--kubeconfig', kubeconfig, '--http-port', '0', '--metrics-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Controller = { child, log: '' };
  const keep = (chunk: Buffer): void => {
    c.log = (c.log + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return c;
}

async function stopController(c: Controller): Promise<void> {
  if (c.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => c.child.once('exit', () => resolve()));
  c.child.kill('SIGTERM');
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
