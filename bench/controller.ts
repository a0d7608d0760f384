// `npm run bench:controller`: N jobs × R ranks (and R pods each) reconciled by one controller process, on
// the embedded API server and on a real kube-apiserver (etcd + kube-apiserver from $KUBEBUILDER_ASSETS,
// like envtest); prints one table of time to converge, reconcile latency and the controller's peak RSS.
// The controller is the compiled operator (what the image runs) in its own process (bench/controller-child.mjs);
// its memory is read from /proc/<pid>/status (VmRSS sampled every 250 ms, and VmHWM).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { allCrds } from '../src/api/crds.ts';
import { kubeConfigFromYaml } from '../test/support/library-kubeconfig.ts';
import { stageProfileToCsv } from '../src/planner/index.ts';
import type { ProfileMeasurement } from '../src/api/planner-types.ts';
import { controlPlane, envtestUnavailable, stopControlPlane } from '../test/support/envtest.ts';

const STAGES = 5;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
type ServerKind = 'embedded' | 'kube-apiserver';
interface Size {
  readonly jobs: number;
  readonly ranksPerJob: number;
}

const usage = `Usage: npm run bench:controller -- [flags]
  --server KIND          embedded, kube-apiserver or both (default: both when KUBEBUILDER_ASSETS is set, else embedded)
  --jobs N               jobs of one run (with --ranks-per-job; default: the two sizes 200×25 and 1000×20)
  --ranks-per-job R      ranks (and worker pods) per job, a multiple of ${STAGES} (${STAGES} stages × R/${STAGES} pipelines)
  --workers N            controller workers (default 4, the CLI's and the chart's default)
  --timeout-seconds S    give up on one run after S seconds (default 900)
  --cpu-prof DIR         write a V8 CPU profile of each controller process into DIR
  --heap-snapshot DIR    write a V8 heap snapshot of each controller process into DIR once it converged
`;

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected a positive integer, got '${value}'`);
  return n;
}

function options(): { servers: ServerKind[]; sizes: Size[]; workers: number; timeoutMs: number; cpuProf: string | undefined; heapSnapshot: string | undefined } {
  const { values } = parseArgs({
    options: { server: { type: 'string' }, jobs: { type: 'string' }, 'ranks-per-job': { type: 'string' }, workers: { type: 'string' }, 'timeout-seconds': { type: 'string' }, 'cpu-prof': { type: 'string' }, 'heap-snapshot': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(usage);
    process.exit(0);
  }
  const real = envtestUnavailable() === undefined;
  const server = values.server ?? (real ? 'both' : 'embedded');
  if (!['embedded', 'kube-apiserver', 'both'].includes(server)) throw new Error(`--server: expected embedded, kube-apiserver or both, got '${server}'`);
  const servers: ServerKind[] = server === 'both' ? ['embedded', 'kube-apiserver'] : [server as ServerKind];
  if (servers.includes('kube-apiserver') && !real) throw new Error(`--server ${server}: the real API server cannot start: ${envtestUnavailable() ?? ''}`);
  const ranksPerJob = positive('ranks-per-job', values['ranks-per-job'], 25);
  if (ranksPerJob % STAGES !== 0) throw new Error(`--ranks-per-job: expected a multiple of ${STAGES} (${STAGES} stages × pipelines), got ${ranksPerJob}`);
  const sizes: Size[] =
    values.jobs === undefined && values['ranks-per-job'] === undefined
      ? [
          { jobs: 200, ranksPerJob: 25 },
          { jobs: 1000, ranksPerJob: 20 },
        ]
      : [{ jobs: positive('jobs', values.jobs, 200), ranksPerJob }];
  return { servers, sizes, workers: positive('workers', values.workers, 4), timeoutMs: positive('timeout-seconds', values['timeout-seconds'], 900) * 1000, cpuProf: values['cpu-prof'], heapSnapshot: values['heap-snapshot'] };
}

function profileCsv(): string {
  const measurements: ProfileMeasurement[] = [];
  for (let stage = 0; stage < STAGES; stage++) {
    for (const instruction of ['forward', 'backward'] as const) {
      for (const f of [1410, 1275, 1140, 1005, 870]) {
        const timeSeconds = (instruction === 'forward' ? 0.01 : 0.02) * (1 + 0.1 * stage) * (1410 / f) ** 0.8;
        measurements.push({ stage, instruction, frequencyMhz: f, timeSeconds, energyJoules: (90 + 210 * (f / 1410) ** 2.2) * timeSeconds });
      }
    }
  }
  return stageProfileToCsv({ stageCount: STAGES, measurements, blockingPowerWatts: 70 });
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The operator compiled to JavaScript (the benchmark measures what the image runs, not tsx). */
function compile(): string {
  const out = path.join(root, 'out', 'bench-controller');
  rmSync(out, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out, '--noCheck'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling the operator failed:\n${r.stdout}${r.stderr}`);
  return out;
}

/** A running API server: an admin kubeconfig and how to stop it. */
interface Server {
  readonly kubeconfigYaml: string;
  stop(): Promise<void>;
}

async function startEmbedded(dir: string): Promise<Server> {
  const file = path.join(dir, 'embedded.kubeconfig');
  rmSync(file, { force: true }); // a previous run's file names a server that is gone
  const child = spawn(process.execPath, [path.join(root, 'bin', 'perseus.js'), 'apiserver', '--port', '0', '--kubeconfig-out', file, '--history-size', '200000'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 300 && !existsSync(file); i++) await sleep(100);
  await sleep(200);
  const stop = async (): Promise<void> => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  if (!existsSync(file)) {
    await stop();
    throw new Error('the embedded API server did not start');
  }
  return { kubeconfigYaml: readFileSync(file, 'utf8'), stop };
}

/** etcd and kube-apiserver only (envtest's default): no scheduler or controller manager taking the CPU. */
async function startReal(dir: string): Promise<Server> {
  const assets = process.env['KUBEBUILDER_ASSETS'] as string;
  const only = path.join(dir, 'assets');
  mkdirSync(only, { recursive: true });
  for (const bin of ['etcd', 'kube-apiserver']) if (!existsSync(path.join(only, bin))) symlinkSync(path.join(assets, bin), path.join(only, bin));
  process.env['KUBEBUILDER_ASSETS'] = only;
  try {
    const cp = await controlPlane();
    return { kubeconfigYaml: cp.adminKubeconfigYaml, stop: stopControlPlane };
  } finally {
    process.env['KUBEBUILDER_ASSETS'] = assets;
  }
}

async function setUp(kc: k8s.KubeConfig, server: ServerKind): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const { crd } of allCrds()) await ext.createCustomResourceDefinition({ body: crd as never });
  // kube-apiserver serves a new CRD's endpoints a moment after creating it.
  for (let i = 0; ; i++) {
    try {
      await custom.listNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseusranks', namespace: 'default', limit: 1 });
      await custom.listNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseustrainingjobs', namespace: 'default', limit: 1 });
      break;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(100);
    }
  }
  await core.createNamespace({ body: { metadata: { name: 'bench' } } });
  // Pods need their ServiceAccount; without kube-controller-manager nothing creates a namespace's default one.
  if (server === 'kube-apiserver') await core.createNamespacedServiceAccount({ namespace: 'bench', body: { metadata: { name: 'default' } } });
  await core.createNamespacedConfigMap({ namespace: 'bench', body: { metadata: { name: 'profile' }, data: { 'profile.csv': profileCsv() } } });
}

/** The controller process and its IPC. */
class ControllerProcess {
  peakRssKib = 0;
  private readonly sampler: NodeJS.Timeout;
  private constructor(readonly child: ChildProcess) {
    this.sampler = setInterval(() => (this.peakRssKib = Math.max(this.peakRssKib, this.status('VmRSS'))), 250);
  }

  static async start(dist: string, kubeconfig: string, workers: number, cpuProf: string | undefined): Promise<ControllerProcess> {
    const prof = cpuProf === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(cpuProf)];
    const child = spawn(process.execPath, ['--expose-gc', ...prof, path.join(root, 'bench', 'controller-child.mjs'), dist, kubeconfig, String(workers)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const p = new ControllerProcess(child);
    await p.ask('ready', undefined);
    return p;
  }

  /** A field of /proc/<pid>/status in KiB (0 once the process is gone). */
  status(field: 'VmRSS' | 'VmHWM'): number {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  /** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat (clock ticks of 1/100 s). */
  cpuSeconds(): number {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return NaN;
    }
  }

  ask<T>(type: string, message: { type: string } | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string }): void => {
        if (m.type !== type) return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null): void => reject(new Error(`the controller process exited (${code ?? 'signal'})`));
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      if (message !== undefined) this.child.send(message);
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.sampler);
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ type: 'stop' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  }
}

interface Row {
  readonly server: ServerKind;
  readonly size: Size;
  readonly ranksInRun: number;
  readonly convergeSeconds: number | undefined;
  readonly reconciles: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly steadyP99: number;
  /** p99 of the passes that sent at most one write (no child created or changed). */
  readonly quietP99: number;
  /** p99 of decide() alone: the controller's own computing in a pass. */
  readonly decideP99: number;
  readonly errors: number;
  readonly peakRssMib: number;
  readonly cpuSeconds: number;
}

async function createJobs(custom: k8s.CustomObjectsApi, size: Size): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < size.jobs; i = next++) {
      await custom.createNamespacedCustomObject({
        group: 'perseus.energy',
        version: 'v1alpha1',
        plural: 'perseustrainingjobs',
        namespace: 'bench',
        body: {
          apiVersion: 'perseus.energy/v1alpha1',
          kind: 'PerseusTrainingJob',
          metadata: { name: `job-${i}` },
          spec: {
            topology: { stages: STAGES, dataParallel: size.ranksPerJob / STAGES, microbatches: 8 },
            profiling: { profileRef: { configMapName: 'profile' } },
            template: { spec: { restartPolicy: 'Never', containers: [{ name: 'trainer', image: 'example/train:1' }] } },
          },
        },
      });
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
}

/** Ranks in Run mode, listed in pages (one list of 20,000 ranks would load the server for seconds). */
async function ranksInRun(custom: k8s.CustomObjectsApi): Promise<number> {
  let n = 0;
  let cont: string | undefined;
  do {
    const page = (await custom.listNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseusranks', namespace: 'bench', limit: 1000, ...(cont === undefined ? {} : { _continue: cont }) })) as {
      items: { spec: { mode: string } }[];
      metadata: { continue?: string };
    };
    n += page.items.filter((r) => r.spec.mode === 'Run').length;
    cont = page.metadata.continue === '' ? undefined : page.metadata.continue;
  } while (cont !== undefined);
  return n;
}

async function runOne(server: ServerKind, size: Size, dist: string, o: ReturnType<typeof options>, dir: string): Promise<Row> {
  const api = server === 'embedded' ? await startEmbedded(dir) : await startReal(dir);
  let controller: ControllerProcess | undefined;
  try {
    const kubeconfig = path.join(dir, `${server}-${size.jobs}.kubeconfig`);
    writeFileSync(kubeconfig, api.kubeconfigYaml);
    const kc = kubeConfigFromYaml(api.kubeconfigYaml);
    await setUp(kc, server);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    controller = await ControllerProcess.start(dist, kubeconfig, o.workers, o.cpuProf);
    const started = performance.now();
    const deadline = started + o.timeoutMs;
    await createJobs(custom, size);
    const wanted = size.jobs * size.ranksPerJob;
    let ranks = 0;
    for (;;) {
      const s = await controller.ask<{ phases: Record<string, number> }>('status', { type: 'status' });
      if ((s.phases['Running'] ?? 0) >= size.jobs && (ranks = await ranksInRun(custom)) >= wanted) break;
      if (performance.now() > deadline) break;
      await sleep(1000);
    }
    const convergeSeconds = ranks >= wanted ? (performance.now() - started) / 1000 : undefined;
    const cpuSeconds = controller.cpuSeconds();
    type Pass = [seconds: number, decideSeconds: number, writes: number];
    const report = await controller.ask<{
      passes: Pass[];
      requests: { what: string; n: number; p50: number; p99: number }[];
      errors: number;
      liveHeapMib: number;
      loopDelayMaxMs: number;
      loopDelayP99Ms: number;
      solveSum: number;
      solveCount: number;
    }>('report', { type: 'report' });
    process.stdout.write(`  live heap after converging ${report.liveHeapMib.toFixed(0)} MiB; event loop delay p99 ${report.loopDelayP99Ms.toFixed(1)} ms, max ${report.loopDelayMaxMs.toFixed(1)} ms; ${report.solveCount} frontier solves, ${(report.solveSum * 1000).toFixed(0)} ms in all\n`);
    process.stdout.write(`  API requests of the controller while converging (latency as the controller saw it):\n${report.requests.map((r) => `    ${r.what.padEnd(30)} ${String(r.n).padStart(6)}  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms`).join('\n')}\n`);
    if (o.heapSnapshot !== undefined) {
      mkdirSync(o.heapSnapshot, { recursive: true });
      const file = path.resolve(o.heapSnapshot, `controller-${server}-${size.jobs}.heapsnapshot`);
      process.stdout.write(`  heap snapshot: ${(await controller.ask<{ file: string }>('heap-snapshot', { type: 'heap-snapshot', file } as { type: string })).file}\n`);
    }
    const steady = (await controller.ask<{ passes: Pass[] }>('resync', { type: 'resync' })).passes.map((p) => p[0]).sort((a, b) => a - b);
    const all = report.passes.map((p) => p[0]).sort((a, b) => a - b);
    const quiet = report.passes.filter((p) => p[2] <= 1).map((p) => p[0]).sort((a, b) => a - b);
    const decided = report.passes.map((p) => p[1]).sort((a, b) => a - b);
    const peakRssMib = Math.max(controller.peakRssKib, controller.status('VmHWM')) / 1024;
    return { server, size, ranksInRun: ranks, convergeSeconds, reconciles: all.length, p50: percentile(all, 0.5), p99: percentile(all, 0.99), max: all.at(-1) ?? NaN, steadyP99: percentile(steady, 0.99), quietP99: percentile(quiet, 0.99), decideP99: percentile(decided, 0.99), errors: report.errors, peakRssMib, cpuSeconds };
  } finally {
    await controller?.stop();
    await api.stop();
  }
}

function table(rows: readonly Row[], workers: number): string {
  const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;
  const head = ['server', 'jobs', 'ranks (in Run mode)', 'converge', 'reconciles', 'p50', 'p99', 'max', 'p99 ≤1 write', 'decide p99', 'p99 resync', 'errors', 'controller CPU', 'controller peak RSS'];
  const body = rows.map((r) => [
    r.server,
    String(r.size.jobs),
    `${r.size.jobs * r.size.ranksPerJob} (${r.ranksInRun})`,
    r.convergeSeconds === undefined ? 'timed out' : `${r.convergeSeconds.toFixed(1)} s`,
    String(r.reconciles),
    ms(r.p50),
    ms(r.p99),
    ms(r.max),
    ms(r.quietP99),
    ms(r.decideP99),
    ms(r.steadyP99),
    String(r.errors),
    `${r.cpuSeconds.toFixed(1)} s`,
    `${r.peakRssMib.toFixed(0)} MiB`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    `bench:controller (${STAGES} stages per job, ${workers} workers; reconcile latency while converging — all passes, those that sent at most one write, decide() alone — and on a full resync after)`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ].join('\n');
}

let o: ReturnType<typeof options>;
try {
  o = options();
} catch (err) {
  process.stderr.write(`bench:controller: ${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const dir = mkdtempSync(path.join(tmpdir(), 'perseus-bench-'));
try {
  process.stdout.write('Compiling the operator…\n');
  const dist = compile();
  const rows: Row[] = [];
  for (const server of o.servers) {
    for (const size of o.sizes) {
      process.stdout.write(`Running ${size.jobs} jobs × ${size.ranksPerJob} ranks on ${server}…\n`);
      const row = await runOne(server, size, dist, o, dir);
      process.stdout.write(`${table([row], o.workers)}\n`);
      rows.push(row);
    }
  }
  process.stdout.write(`\n${table(rows, o.workers)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
