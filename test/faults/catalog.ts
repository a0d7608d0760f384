// The faults: each injected once per trial at the point the trial chose, and over (the component back,
// the network healed) when `inject` resolves. Durations are drawn from the trial's seeded PRNG.
import { admin, jobEvents } from './observe.ts';
import type { Fault, TrialContext } from './trial.ts';

const NODE_LOST_GRACE = '2s';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function etcdJson(ctx: TrialContext, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${ctx.suite.cp.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Worker pods of the job that the simulated kubelet runs now, by name. */
function runningWorkers(ctx: TrialContext, role: 'worker' | 'profiler'): string[] {
  return [...ctx.parts.kubelet.workers.entries()].filter(([key, w]) => key.startsWith(`${ctx.namespace}/`) && w.config.role === role).map(([key]) => key.split('/')[1]!);
}

async function controllerKill(ctx: TrialContext): Promise<void> {
  const c = ctx.controllers[0]!;
  await c.kill();
  const downMs = ctx.rng.int(0, 3000);
  ctx.note(`controller SIGKILLed, restarted after ${downMs} ms`);
  await sleep(downMs);
  c.start();
}

async function leaseHolder(ctx: TrialContext): Promise<string | undefined> {
  const lease = `perseus-faults-${ctx.namespace}`.slice(0, 63);
  const res = await admin(ctx.suite.cp, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${ctx.suite.ids.namespace}/leases/${lease}`).catch(() => undefined);
  return res?.status === 200 ? (res.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity : undefined;
}

async function leaderKill(ctx: TrialContext): Promise<void> {
  const holder = await leaseHolder(ctx);
  const leader = ctx.controllers.find((c) => c.identity === holder);
  if (leader === undefined) throw new Error(`no replica holds the Lease (holder ${holder ?? 'none'})`);
  await leader.kill();
  const killedAt = Date.now();
  for (;;) {
    const now = await leaseHolder(ctx);
    if (now !== undefined && now !== '' && now !== leader.identity) {
      ctx.note(`leader ${leader.identity} SIGKILLed; ${now} took over after ${((Date.now() - killedAt) / 1000).toFixed(1)} s (lease 15 s)`);
      break;
    }
    if (Date.now() - killedAt > 60_000) throw new Error('no replica took over within 60 s');
    await sleep(100);
  }
  leader.start(); // the Deployment brings it back as the standby
}

async function agentKill(ctx: TrialContext): Promise<void> {
  // A node whose GPUs run the plan (or the sweep), when there is one.
  const busy = ctx.parts.nodes.filter((n) => n.gpus.some((g) => g.lockedGpuClockMhz() !== undefined));
  const target = ctx.rng.pick(busy.length > 0 ? busy : ctx.parts.nodes);
  const locked = target.gpus.filter((g) => g.lockedGpuClockMhz() !== undefined).length;
  await target.crashAgent();
  const downMs = ctx.rng.int(500, 3000);
  await sleep(downMs);
  const stillLocked = target.gpus.filter((g) => g.lockedGpuClockMhz() !== undefined).length;
  await target.restartAgent();
  const afterStart = target.gpus.filter((g) => g.lockedGpuClockMhz() !== undefined).length;
  ctx.note(`agent of ${target.name} SIGKILLed with ${locked} GPUs locked (${stillLocked} still locked while it was down), restarted after ${downMs} ms (${afterStart} locked once it started)`);
  // The restarted agent resets what nothing owns, then applies the plan (or the sweep) again once the
  // workers are back: its GPUs lock again unless the job ended first.
  const t0 = Date.now();
  while (!target.gpus.some((g) => g.lockedGpuClockMhz() !== undefined) && ctx.tracked.status?.completionTime === undefined && Date.now() - t0 < 60_000) await sleep(20);
  const relocked = target.gpus.filter((g) => g.lockedGpuClockMhz() !== undefined).length;
  ctx.note(relocked > 0 ? `${relocked} GPUs of ${target.name} locked again ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart (${ctx.tracked.status?.phase ?? ''})` : `no GPU of ${target.name} locked again before the job ended`);
}

async function podFail(ctx: TrialContext): Promise<void> {
  const pods = runningWorkers(ctx, 'worker');
  if (pods.length === 0) throw new Error('no running worker pod');
  const pod = ctx.rng.pick(pods);
  ctx.parts.kubelet.workers.get(`${ctx.namespace}/${pod}`)?.stop();
  ctx.note(`worker ${pod} killed (exit 137, pod Failed)`);
}

async function podEvict(ctx: TrialContext): Promise<void> {
  const pods = runningWorkers(ctx, 'worker');
  if (pods.length === 0) throw new Error('no running worker pod');
  const pod = ctx.rng.pick(pods);
  const res = await admin(ctx.suite.cp, 'POST', `/api/v1/namespaces/${ctx.namespace}/pods/${pod}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ctx.namespace } });
  ctx.note(`evicted ${pod}: ${res.status}`);
}

/** The node's kubelet stops reporting (NotReady) until the controller restarted the gang, at most 90 s. */
async function nodeNotReady(ctx: TrialContext): Promise<void> {
  const busy = ctx.parts.nodes.filter((n) => runningWorkers(ctx, 'worker').some((p) => ctx.parts.kubelet.workers.get(`${ctx.namespace}/${p}`)?.config.gpus.some((g) => n.gpus.includes(g))));
  const node = ctx.rng.pick(busy.length > 0 ? busy : ctx.parts.nodes);
  ctx.parts.kubelet.silence(node.name, true);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const res = await admin(ctx.suite.cp, 
    'PATCH',
    `/api/v1/nodes/${node.name}/status`,
    { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'fault suite: node NotReady', lastHeartbeatTime: now, lastTransitionTime: now }] } },
    'application/strategic-merge-patch+json',
  );
  const t0 = Date.now();
  while ((await jobEvents(ctx.suite.cp, ctx.namespace, ctx.jobUid(), 'GangRestart')).count === 0 && Date.now() - t0 < 90_000 && !ctx.tracked.status?.completionTime) await sleep(250);
  ctx.parts.kubelet.silence(node.name, false);
  ctx.note(`node ${node.name} NotReady (${res.status}) for ${((Date.now() - t0) / 1000).toFixed(1)} s (controller --node-lost-grace ${NODE_LOST_GRACE})`);
}

async function conflicts(ctx: TrialContext): Promise<void> {
  const ms = ctx.rng.int(3000, 8000);
  const until = Date.now() + ms;
  let writes = 0;
  const jobPath = `/apis/perseus.energy/v1alpha1/namespaces/${ctx.namespace}/perseustrainingjobs/${ctx.job}`;
  while (Date.now() < until) {
    const targets = [jobPath, `/apis/perseus.energy/v1alpha1/namespaces/${ctx.namespace}/perseusranks/${ctx.job}-p0-s${ctx.rng.int(0, 7)}`, `/api/v1/namespaces/${ctx.namespace}/configmaps/${ctx.job}-perseus`];
    for (const path of targets) {
      const res = await admin(ctx.suite.cp, 'PATCH', path, { metadata: { annotations: { 'faults.perseus.energy/writer': String(writes) } } }, 'application/merge-patch+json').catch(() => undefined);
      if (res?.status === 200) writes++;
    }
    await sleep(ctx.rng.int(20, 100));
  }
  ctx.note(`concurrent writer: ${writes} writes to the job, its ranks and ConfigMap in ${ms} ms`);
}

async function compaction(ctx: TrialContext): Promise<void> {
  const range = await etcdJson(ctx, '/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
  const revision = Number((range['header'] as { revision: string }).revision);
  await etcdJson(ctx, '/v3/kv/compaction', { revision, physical: true });
  // A restarted kube-apiserver's watch cache starts at the compacted revision: every client's resume
  // from an older resourceVersion gets 410 Gone and must re-list.
  const t0 = Date.now();
  await ctx.suite.cp.restartApiServer();
  ctx.note(`etcd compacted at revision ${revision}; kube-apiserver restarted (${((Date.now() - t0) / 1000).toFixed(1)} s) so every watch resumes from a compacted revision`);
}

export const FAULTS: readonly Fault[] = [
  {
    name: 'apiserver-restart',
    phases: ['Profiling', 'Running'],
    async inject(ctx) {
      const t0 = Date.now();
      await ctx.suite.cp.restartApiServer();
      ctx.note(`kube-apiserver SIGKILLed and restarted (${((Date.now() - t0) / 1000).toFixed(1)} s down)`);
    },
  },
  {
    name: 'etcd-pause',
    phases: ['Profiling', 'Running'],
    async inject(ctx) {
      const ms = ctx.rng.int(2000, 8000);
      ctx.suite.cp.signalEtcd('SIGSTOP');
      await sleep(ms);
      ctx.suite.cp.signalEtcd('SIGCONT');
      ctx.note(`etcd paused ${ms} ms`);
    },
  },
  {
    name: 'watch-reset',
    phases: ['Profiling', 'Running'],
    async inject(ctx) {
      const n = ctx.rng.int(1, 4);
      for (let i = 0; i < n; i++) {
        ctx.suite.proxy.resetAll();
        await sleep(ctx.rng.int(100, 1500));
      }
      ctx.note(`${n} rounds of connection resets (${ctx.suite.proxy.resets} connections reset so far)`);
    },
  },
  {
    name: 'watch-stall',
    phases: ['Profiling', 'Running'],
    async inject(ctx) {
      const ms = ctx.rng.int(2000, 10_000);
      ctx.suite.proxy.setMode({ kind: 'stall' });
      await sleep(ms);
      ctx.suite.proxy.setMode({ kind: 'pass' });
      ctx.note(`every connection stalled ${ms} ms`);
    },
  },
  {
    name: 'slow-responses',
    phases: ['Profiling', 'Running'],
    async inject(ctx) {
      const ms = ctx.rng.int(5000, 12_000);
      const delayMs = ctx.rng.int(100, 500);
      ctx.suite.proxy.setMode({ kind: 'slow', delayMs });
      await sleep(ms);
      ctx.suite.proxy.setMode({ kind: 'pass' });
      ctx.note(`every chunk delayed ${delayMs} ms for ${ms} ms`);
    },
  },
  { name: 'gone-410', phases: ['Profiling', 'Running'], inject: compaction },
  { name: 'write-conflicts', phases: ['Profiling', 'Planning', 'Running'], inject: conflicts },
  { name: 'controller-kill', phases: ['Pending', 'Profiling', 'Planning', 'Running'], inject: controllerKill },
  { name: 'leader-kill', phases: ['Profiling', 'Running'], replicas: 2, inject: leaderKill },
  { name: 'agent-kill-plan', phases: ['Running'], inject: agentKill },
  { name: 'agent-kill-profiling', phases: ['Profiling'], inject: agentKill },
  { name: 'pod-failure', phases: ['Running'], nodes: 3, inject: podFail },
  { name: 'node-notready', phases: ['Running'], nodes: 3, controllerArgs: ['--node-lost-grace', NODE_LOST_GRACE], inject: nodeNotReady },
  { name: 'pod-eviction', phases: ['Running'], nodes: 3, inject: podEvict },
  {
    name: 'job-delete',
    phases: ['Pending', 'Profiling', 'Planning', 'Running'],
    deletesJob: true,
    async inject(ctx) {
      const res = await admin(ctx.suite.cp, 'DELETE', `/apis/perseus.energy/v1alpha1/namespaces/${ctx.namespace}/perseustrainingjobs/${ctx.job}`);
      ctx.note(`job deleted: ${res.status}`);
    },
  },
];

/** The faults of `--quick`: one of each family. */
export const QUICK = ['apiserver-restart', 'watch-reset', 'controller-kill', 'agent-kill-plan', 'job-delete'];

