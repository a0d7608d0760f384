// `npm run bench:controller`: 200 jobs with 5,000 ranks (and 5,000 pods) reconciled by one controller
// against the embedded API server running in its own process; prints reconcile latency and memory.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { allCrds } from '../src/api/crds.ts';
import { systemClock } from '../src/kube/clock.ts';
import { ClientKubeApi, kubeConfigFromYaml } from '../src/kube/client.ts';
import { createLogger } from '../src/controller/log.ts';
import { Operator } from '../src/controller/operator.ts';
import { stageProfileToCsv } from '../src/planner/index.ts';
import type { ProfileMeasurement } from '../src/api/planner-types.ts';

const JOBS = Number(process.env['BENCH_JOBS'] ?? 200);
const STAGES = 5;
const PIPELINES = 5;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

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

const dir = mkdtempSync(path.join(tmpdir(), 'perseus-bench-'));
const kubeconfig = path.join(dir, 'kubeconfig');
const server = spawn(process.execPath, [path.join(root, 'bin', 'perseus.js'), 'apiserver', '--port', '0', '--kubeconfig-out', kubeconfig, '--history-size', '100000'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  for (let i = 0; i < 300 && !existsSync(kubeconfig); i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 200));
  const kc = kubeConfigFromYaml(readFileSync(kubeconfig, 'utf8'));
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const { crd } of allCrds()) await ext.createCustomResourceDefinition({ body: crd as never });
  await core.createNamespace({ body: { metadata: { name: 'bench' } } });
  await core.createNamespacedConfigMap({ namespace: 'bench', body: { metadata: { name: 'profile' }, data: { 'profile.csv': profileCsv() } } });

  global.gc?.();
  const before = process.memoryUsage();
  const durations: number[] = [];
  const operator = new Operator({
    api: new ClientKubeApi(kc),
    clock: systemClock,
    logger: createLogger('error', true),
    identity: 'bench',
    workers: 8,
    onReconciled: (s) => durations.push(s),
  });
  await operator.start();
  const started = performance.now();
  for (let i = 0; i < JOBS; i++) {
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
          topology: { stages: STAGES, dataParallel: PIPELINES, microbatches: 8 },
          profiling: { profileRef: { configMapName: 'profile' } },
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'trainer', image: 'example/train:1' }] } },
        },
      },
    });
  }
  const ranksWanted = JOBS * STAGES * PIPELINES;
  // Poll the controller's own cache (listing 5,000 ranks here would load the same event loop).
  for (;;) {
    if ((operator.controller?.phaseCounts().get('Running') ?? 0) >= JOBS || performance.now() - started > 900_000) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const listRanks = async (): Promise<number> => {
    const list = (await custom.listNamespacedCustomObject({ group: 'perseus.energy', version: 'v1alpha1', plural: 'perseusranks', namespace: 'bench' })) as { items: { spec: { mode: string } }[] };
    return list.items.filter((r) => r.spec.mode === 'Run').length;
  };
  let ranks = 0;
  while ((ranks = await listRanks()) < ranksWanted && performance.now() - started < 900_000) await new Promise((r) => setTimeout(r, 2000));
  const convergeSeconds = (performance.now() - started) / 1000;
  // Steady state: a full resync of every job (what a periodic relist triggers).
  const steadyFrom = durations.length;
  for (const key of operator.controller?.jobKeys() ?? []) operator.controller?.queue.add(key);
  while ((operator.controller?.queue.length ?? 0) > 0) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  global.gc?.();
  const after = process.memoryUsage();
  const all = [...durations].sort((a, b) => a - b);
  const steady = durations.slice(steadyFrom).sort((a, b) => a - b);
  const pods = (await core.listNamespacedPod({ namespace: 'bench' })).items.length;
  await operator.stop();
  const ms = (s: number): string => `${(s * 1000).toFixed(2)} ms`;
  const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
  const rows: [string, string][] = [
    ['jobs', String(JOBS)],
    ['ranks in Run mode', `${ranks} / ${ranksWanted}`],
    ['pods', String(pods)],
    ['time to converge (all ranks in Run mode)', `${convergeSeconds.toFixed(1)} s`],
    ['reconciles', String(all.length)],
    ['reconcile p50 (converging)', ms(percentile(all, 0.5))],
    ['reconcile p99 (converging)', ms(percentile(all, 0.99))],
    ['reconcile p50 (steady resync)', ms(percentile(steady, 0.5))],
    ['reconcile p99 (steady resync)', ms(percentile(steady, 0.99))],
    ['controller heap (after − before)', mib(after.heapUsed - before.heapUsed)],
    ['process RSS', mib(after.rss)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\nbench:controller (${JOBS} jobs × ${STAGES} stages × ${PIPELINES} pipelines, embedded API server in a child process)\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
} finally {
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
