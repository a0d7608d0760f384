// One trial of the fault suite: a short job with a plan, run by the simulated GPU nodes (real agents,
// simulated kubelet and workers) against the real control plane and by `perseus controller` processes;
// the fault injected at a point chosen by the seeded PRNG; then the invariants: the job finished, nothing
// lost or duplicated, no clock left locked, no re-profiling.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageProfile } from '../../src/api/planner-types.ts';
import { defaultJob } from '../../src/sim/simulate/job.ts';
import { jobKey, type TrackedJob } from '../../src/sim/simulate/job-tracker.ts';
import { runSimulation, type SimulationParts, type SimulationResult } from '../../src/sim/simulate/simulation.ts';
import type { ChartIdentities } from '../support/chart-identities.ts';
import type { ControlPlane } from '../support/envtest.ts';
import { ControllerProcess } from './controllers.ts';
import { admin, checkEndState, jobEvents, ObjectWatch } from './observe.ts';
import type { Prng } from './prng.ts';
import type { TcpProxy } from './tcp-proxy.ts';

/** Training iterations of a trial's job, and the simulation's time scale (simulated s per wall s). */
export const ITERATIONS = 40;
export const TIME_SCALE = 50;
const STAGES = 8;
const PIPELINES = 2;
const TRIAL_TIMEOUT_MS = 300_000;

/** What every trial shares: the control plane, the proxy in front of it, kubeconfigs through the proxy. */
export interface Suite {
  readonly cp: ControlPlane;
  readonly ids: ChartIdentities;
  readonly proxy: TcpProxy;
  readonly dir: string;
  /** Administrator (the simulation acts as a user would) and the chart's controller, both through the proxy. */
  readonly adminKubeconfigPath: string;
  readonly controllerKubeconfigPath: string;
  readonly profile: StageProfile;
}

export const PHASES = ['Pending', 'Profiling', 'Planning', 'Running'] as const;
export type Phase = (typeof PHASES)[number];
const ORDER = ['Pending', 'Profiling', 'Planning', 'Running', 'Succeeded', 'Failed'];

export interface TrialContext {
  readonly suite: Suite;
  readonly rng: Prng;
  readonly namespace: string;
  readonly job: string;
  readonly phase: Phase;
  readonly parts: SimulationParts;
  readonly controllers: ControllerProcess[];
  readonly tracked: TrackedJob;
  /** The job's UID once it was created. */
  jobUid(): string | undefined;
  /** Adds a line to the trial's report (what was done, what was seen). */
  note(line: string): void;
}

export interface Fault {
  readonly name: string;
  /** The phases it is injected in; trial i uses phases[i mod n]. */
  readonly phases: readonly Phase[];
  /** Controller replicas (2: leader-elected). */
  readonly replicas?: number;
  /** More flags of the controller processes. */
  readonly controllerArgs?: readonly string[];
  /** Simulated nodes (8 GPUs each; the job needs 16). */
  readonly nodes?: number;
  /** The fault deletes the job: it is done when every owned object is gone and every clock reset. */
  readonly deletesJob?: boolean;
  /** Injects the fault at the chosen point; resolves once it is over (the component is back). */
  inject(ctx: TrialContext): Promise<void>;
}

export interface TrialResult {
  readonly fault: string;
  readonly trial: number;
  readonly phase: Phase;
  readonly injected: boolean;
  readonly finished: boolean;
  readonly restarts: number;
  readonly reprofilings: number;
  readonly lost: readonly string[];
  readonly duplicated: readonly string[];
  readonly lockedClocks: number;
  readonly wallSeconds: number;
  readonly notes: readonly string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function phaseIndex(t: TrackedJob): number {
  return t.deleted ? ORDER.length : Math.max(0, ORDER.indexOf(t.status?.phase ?? 'Pending'));
}

/**
 * Waits until the job is in `phase`, then a random way into it (profiling or training iterations, or up to
 * 200 ms for the short phases). False when the job went past the phase first.
 */
async function reach(ctx: Omit<TrialContext, 'note'>, deadlineMs: number): Promise<boolean> {
  const target = ORDER.indexOf(ctx.phase);
  const t = ctx.tracked;
  while (phaseIndex(t) < target || (ctx.phase === 'Pending' && t.status === undefined && !(await jobExists(ctx)))) {
    if (Date.now() > deadlineMs) return false;
    await sleep(10);
  }
  if (phaseIndex(t) > target) return false;
  if (ctx.phase === 'Profiling') {
    const n = ctx.rng.int(0, 6);
    while (t.profiling.length < n && phaseIndex(t) === target) await sleep(10);
  } else if (ctx.phase === 'Running') {
    const n = ctx.rng.int(1, Math.floor(ITERATIONS * 0.6));
    while (t.training.length < n && phaseIndex(t) === target) await sleep(10);
  } else {
    await sleep(ctx.rng.int(0, 200));
  }
  return phaseIndex(t) === target;
}

async function jobExists(ctx: { suite: Suite; namespace: string; job: string }): Promise<boolean> {
  const res = await admin(ctx.suite.cp, 'GET', `/apis/perseus.energy/v1alpha1/namespaces/${ctx.namespace}/perseustrainingjobs/${ctx.job}`).catch(() => undefined);
  return res?.status === 200;
}

async function jobUid(suite: Suite, namespace: string, job: string): Promise<string | undefined> {
  const res = await admin(suite.cp, 'GET', `/apis/perseus.energy/v1alpha1/namespaces/${namespace}/perseustrainingjobs/${job}`).catch(() => undefined);
  return res?.status === 200 ? (res.body as { metadata: { uid: string } }).metadata.uid : undefined;
}

/** A DNS label for the trial's namespace. */
function namespaceFor(fault: string, seed: number, trial: number): string {
  return `f-${fault}-${seed}-${trial}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63).replace(/-+$/, '');
}

export async function runTrial(suite: Suite, fault: Fault, seed: number, trial: number, rng: Prng, log: (line: string) => void): Promise<TrialResult> {
  const started = Date.now();
  const namespace = namespaceFor(fault.name, seed, trial);
  const phase = fault.phases[trial % fault.phases.length]!;
  const notes: string[] = [];
  const note = (line: string): void => {
    notes.push(line);
    log(`    ${line}`);
  };
  const replicas = fault.replicas ?? 1;
  const lease = replicas > 1 ? { namespace: suite.ids.namespace, name: `perseus-faults-${namespace}`.slice(0, 63) } : undefined;
  const controllers = Array.from({ length: replicas }, (_, i) => new ControllerProcess(`${namespace}-c${i}`, { kubeconfigPath: suite.controllerKubeconfigPath, namespace, ...(lease === undefined ? {} : { lease }), ...(fault.controllerArgs === undefined ? {} : { args: fault.controllerArgs }) }));
  for (const c of controllers) c.start();
  const job = defaultJob({ pipelines: PIPELINES, iterations: ITERATIONS, namespace });
  const spec = job.spec as Record<string, Record<string, unknown>>;
  spec['straggler'] = { enabled: false };
  spec['profiling'] = { ...spec['profiling'], warmupIterations: 1, iterationsPerClock: 1, clockStrideMhz: 120 };
  spec['runPolicy'] = { backoffLimit: 4 };
  const name = job.metadata.name;
  const watch = new ObjectWatch(suite.cp, namespace, name);
  let uid: string | undefined;
  let injected = false;
  let injection: Promise<void> = Promise.resolve();
  let tracked: TrackedJob | undefined;
  let result: SimulationResult | undefined;
  let error: string | undefined;
  try {
    result = await runSimulation({
      jobs: [job],
      kubeconfig: suite.adminKubeconfigPath,
      runController: false,
      nodes: fault.nodes ?? 2,
      gpusPerNode: 8,
      gpuName: 'A100',
      profile: suite.profile,
      blockingPowerWatts: 83.64,
      timeScale: TIME_SCALE,
      iterations: ITERATIONS,
      timeoutMs: TRIAL_TIMEOUT_MS,
      logLevel: process.env['PERSEUS_FAULTS_LOG_LEVEL'] ?? 'error',
      onStarted: (parts) => {
        tracked = parts.tracker.jobs.get(jobKey(namespace, name))!;
        const base = { suite, rng, namespace, job: name, phase, parts, controllers, tracked: tracked!, jobUid: () => uid };
        watch.start();
        injection = (async () => {
          while (uid === undefined && Date.now() < started + TRIAL_TIMEOUT_MS) {
            uid = await jobUid(suite, namespace, name);
            if (uid === undefined) await sleep(20);
          }
          if (!(await reach(base, started + TRIAL_TIMEOUT_MS))) {
            const where = tracked!.status?.phase ?? 'Pending';
            const late = ORDER.indexOf(where) < ORDER.indexOf(phase) && !tracked!.deleted;
            note(late ? `not injected: the job never reached ${phase} (still ${where} when the trial's time ran out)` : `not injected: the job was past ${phase} (${where}) before the chosen point`);
            return;
          }
          injected = true;
          note(`injected in ${phase} (profiling iteration ${tracked!.profiling.length}, training iteration ${tracked!.training.length})`);
          await fault.inject({ ...base, note });
        })().catch((err: unknown) => note(`injection failed: ${(err as Error).message}`));
      },
    });
  } catch (err) {
    error = (err as Error).message;
    note(`simulation: ${error}`);
  }
  const simulatedAt = Date.now();
  await injection;
  await watch.stop();
  const t = tracked;
  const deleted = t?.deleted === true;
  const end = await checkEndState(suite.cp, { namespace, job: name, jobUid: uid, stages: STAGES, pipelines: PIPELINES, deleted: fault.deletesJob === true && deleted, watch });
  const gang = await jobEvents(suite.cp, namespace, uid, 'GangRestart');
  const restarts = gang.count;
  for (const m of gang.messages) note(`GangRestart: ${m}`);
  const profilingStarts = (await jobEvents(suite.cp, namespace, uid, 'ProfilingStarted')).count;
  const reentries = (t?.phases ?? []).filter((p, i, all) => p.phase === 'Profiling' && all.slice(0, i).some((q) => q.phase === 'Planning' || q.phase === 'Running')).length;
  const reprofilings = Math.max(profilingStarts - 1, reentries);
  const finished = error === undefined && (fault.deletesJob === true ? deleted && end.duplicated.length === 0 : t?.status?.phase === 'Succeeded');
  if (error === undefined && !finished) note(`job ended ${deleted ? 'deleted' : (t?.status?.phase ?? 'unknown')}: ${t?.status?.conditions?.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`).join('; ') ?? ''}`);
  for (const l of end.lost) note(`lost: ${l}`);
  for (const d of end.duplicated) note(`duplicated: ${d}`);
  const lockedClocks = result?.lockedClocksAtEnd.length ?? 0;
  if (lockedClocks > 0) note(`clocks left locked: ${result?.lockedClocksAtEnd.join(', ')}`);
  if (reprofilings > 0) note(`re-profiled: ${profilingStarts} ProfilingStarted events, ${reentries} returns to Profiling`);
  note(`timeline (simulated s): ${(t?.phases ?? []).map((p) => `${p.phase} ${p.atSeconds.toFixed(0)}`).join(' → ')}; run ${((simulatedAt - started) / 1000).toFixed(0)} s, checks ${((Date.now() - simulatedAt) / 1000).toFixed(0)} s (wall)`);
  for (const c of controllers) {
    if (!finished) note(`controller ${c.identity} (${c.running ? 'running' : 'exited'}) log ends: ${c.log.slice(-1500)}`);
    else if (/"level":"error"/.test(c.log)) note(`controller ${c.identity} logged errors: ${(c.log.match(/.*"level":"error".*/g) ?? []).slice(-2).join(' | ').slice(0, 600)}`);
    await c.stop();
  }
  await admin(suite.cp, 'DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  return { fault: fault.name, trial, phase, injected, finished, restarts, reprofilings, lost: end.lost, duplicated: end.duplicated, lockedClocks, wallSeconds: (Date.now() - started) / 1000, notes };
}

/** Writes a kubeconfig whose server is the proxy (same CA: the serving certificate is for 127.0.0.1). */
export function viaProxy(dir: string, file: string, yaml: string, proxyPort: number): string {
  const path = join(dir, file);
  writeFileSync(path, yaml.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${proxyPort}`));
  return path;
}
