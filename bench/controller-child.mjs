// The controller process of bench:controller: the compiled operator (what the image runs), alone in its
// process so its memory is measured without the benchmark's own. Talks to the benchmark over IPC.
// Usage (spawned with an IPC channel): node controller-child.mjs DIST_DIR KUBECONFIG WORKERS
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';

const [dist, kubeconfig, workers] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(path.join(dist, file)).href);
const { Operator } = await load('controller/operator.js');
const { ClientKubeApi, loadConnection } = await load('kube/client.js');
const { systemClock } = await load('kube/clock.js');
const { createLogger } = await load('controller/log.js');

// Per reconcile: [seconds, decide() seconds, writes sent].
const passes = [];
// How long the event loop was blocked at worst (watches, leases and every reconcile wait behind it).
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
// Requests by verb and resource, with their latencies (ms), counted around the controller's API client.
const api = new ClientKubeApi(loadConnection(kubeconfig));
const requests = new Map();
for (const verb of ['list', 'get', 'create', 'mergePatch', 'apply', 'replace', 'delete']) {
  const send = api[verb].bind(api);
  api[verb] = async (kind, ...rest) => {
    const what = `${verb} ${kind.plural}`;
    const started = performance.now();
    try {
      return await send(kind, ...rest);
    } finally {
      const ms = requests.get(what) ?? [];
      ms.push(performance.now() - started);
      requests.set(what, ms);
    }
  };
}
const requestStats = () =>
  [...requests].map(([what, ms]) => {
    const sorted = [...ms].sort((x, y) => x - y);
    return { what, n: sorted.length, p50: sorted[Math.floor(sorted.length / 2)], p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] };
  });
const operator = new Operator({
  api,
  clock: systemClock,
  logger: createLogger(process.env.PERSEUS_BENCH_LOG_LEVEL ?? 'error', process.env.PERSEUS_BENCH_LOG_LEVEL === undefined),
  identity: 'bench',
  workers: Number(workers),
  onReconciled: (seconds, pass) => passes.push([seconds, pass.decideSeconds, pass.writes]),
});
await operator.start();

const errors = async () => (await operator.metrics.reconcileErrors.get()).values[0]?.value ?? 0;
const idle = async () => {
  while ((operator.controller?.queue.length ?? 0) > 0) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
};

process.on('message', (m) => {
  void (async () => {
    if (m.type === 'status') {
      process.send({ type: 'status', phases: Object.fromEntries(operator.controller?.phaseCounts() ?? []), reconciles: passes.length, errors: await errors() });
    } else if (m.type === 'resync') {
      // Steady state: every job reconciled again (what a periodic relist triggers).
      const from = passes.length;
      for (const key of operator.controller?.jobKeys() ?? []) operator.controller?.queue.add(key);
      await idle();
      process.send({ type: 'resync', passes: passes.slice(from) });
    } else if (m.type === 'report') {
      const solves = (await operator.metrics.solveDuration.get()).values;
      const solveSum = solves.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
      const solveCount = solves.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
      global.gc?.();
      const { heapUsed } = process.memoryUsage();
      process.send({ type: 'report', passes, requests: requestStats(), errors: await errors(), liveHeapMib: heapUsed / 1048576, loopDelayMaxMs: loopDelay.max / 1e6, loopDelayP99Ms: loopDelay.percentile(99) / 1e6, solveSum, solveCount });
    } else if (m.type === 'heap-snapshot') {
      global.gc?.();
      process.send({ type: 'heap-snapshot', file: writeHeapSnapshot(m.file) });
    } else if (m.type === 'stop') {
      await operator.stop();
      process.disconnect();
    }
  })();
});
process.send({ type: 'ready' });
