// Real PyTorch pipeline training under Perseus: four torch.distributed stage processes (clients/python/examples/
// torch_pipeline.py) talk to a node agent (the agent's own NodeAgent and socket server) over emulated GPUs; this
// script plays the controller's part: it collects the profile the sweep measured, solves the frontier with the
// planner, applies the plan, detects stragglers with the controller's rule and replans. `tsx` runs it directly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeAgent } from '../../src/agent/agent.ts';
import { AgentSocketServer } from '../../src/agent/socket-server.ts';
import type { AgentRankSpec, AgentRankStatus } from '../../src/agent/types.ts';
import type { PerseusRank } from '../../src/api/index.ts';
import type { FrequencyPlan, PipelineSpec, PlannerOptions, ProfileMeasurement, StageProfile } from '../../src/api/planner-types.ts';
import { detectStragglers, measuredPipelineSeconds, type StragglerEntry } from '../../src/controller/stragglers.ts';
import { allMaxPlan, choosePlan, evaluatePlan, fastestPlan, solveFrontier, type ChosenPlan } from '../../src/planner/index.ts';
import { EmulatedTrainingGpu } from './torch-pipeline-gpu.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const EXAMPLE = join(ROOT, 'clients/python/examples/torch_pipeline.py');
const STAGES = 4;
const NAMESPACE = 'ml';
const JOB = 'torch-gpt';
/** A100-like SM clocks, 810–1410 MHz every 30 MHz. */
const CLOCKS_MHZ = Array.from({ length: 21 }, (_, i) => 1410 - 30 * i);
const IDLE_WATTS = 80;

export interface TorchPipelineOptions {
  /** A Python 3 with torch (see findTorchPython). */
  readonly python: string;
  readonly iterations: number;
  readonly microbatches: number;
  /** Stage `stage` runs `factor`× slower in iterations [at, until). */
  readonly straggler: { readonly stage: number; readonly factor: number; readonly at: number; readonly until: number };
  /** Straggler rule (the job's spec.straggler): relative threshold, window of iterations, cooldown. */
  readonly threshold: number;
  readonly window: number;
  readonly cooldownMs: number;
  /** Profiling sweep stride (MHz) and iterations per clock. */
  readonly clockStrideMhz: number;
  readonly iterationsPerClock: number;
  readonly log?: (line: string) => void;
  readonly timeoutMs?: number;
}

export interface Replan {
  readonly generation: number;
  readonly atIteration: number;
  readonly stragglers: readonly StragglerEntry[];
  readonly planSeconds: number;
}

export interface TorchPipelineResult {
  readonly iterations: number;
  /** Mean loss of each iteration (the last stage's micro-batches). */
  readonly losses: readonly number[];
  readonly profileRows: number;
  readonly profiledClocksMhz: readonly number[];
  readonly blockingPowerWatts: number | undefined;
  readonly frontierPoints: number;
  readonly baseline: { readonly timeSeconds: number; readonly energyJoules: number };
  readonly planned: { readonly timeSeconds: number; readonly energyJoules: number; readonly atIteration: number };
  /** Computations checked under plan generation 1 and how many ran at their planned clock. */
  readonly clockCheck: { readonly computations: number; readonly atPlannedClock: number; readonly distinctClocksMhz: readonly number[] };
  /** Mean measured iteration time of the last stage under generation 1 (s), before the straggler. */
  readonly measuredPlanSeconds: number | undefined;
  readonly replans: readonly Replan[];
  /** Client time per begin/end pair in the loop (µs), per stage: mean and median. */
  readonly overheadUs: readonly number[];
  readonly overheadMedianUs: readonly number[];
  /** Measured iteration time over the plan's model time under generation 1 (what the iteration adds to its computations). */
  readonly overheadRatio: number | undefined;
  readonly wallSeconds: number;
}

/** A python3 that imports torch (Debian's python3-torch is seen by /usr/bin/python3 only), or undefined. */
export function findTorchPython(): string | undefined {
  for (const candidate of [process.env.PERSEUS_TORCH_PYTHON, '/usr/bin/python3', 'python3']) {
    if (candidate === undefined || candidate === '') continue;
    const r = spawnSync(candidate, ['-c', 'import torch, torch.distributed as d; assert d.is_available()'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** A PerseusRank as the controller would read it, from what the agent reported (detection reads only its status). */
function asRank(name: string, status: AgentRankStatus | undefined): PerseusRank {
  return {
    apiVersion: 'perseus.energy/v1alpha1',
    kind: 'PerseusRank',
    metadata: { name, namespace: NAMESPACE },
    ...(status === undefined
      ? {}
      : {
          status: {
            ...(status.appliedPlanGeneration === undefined ? {} : { appliedPlanGeneration: status.appliedPlanGeneration }),
            recentIterationSeconds: [...status.recentIterationSeconds],
            throttleReasons: [...status.throttleReasons],
          },
        }),
  } as unknown as PerseusRank;
}

interface IterationEvent {
  stage: number;
  iteration: number;
  seconds: number;
  loss?: number;
  clocks?: number[];
}

/** Runs the whole loop: profile, plan, run, straggler, replan, recovery. Rejects on any failure. */
export async function runTorchPipeline(o: TorchPipelineOptions): Promise<TorchPipelineResult> {
  const log = o.log ?? (() => undefined);
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'perseus-torch-'));
  const gpus = Array.from({ length: STAGES }, (_, i) => new EmulatedTrainingGpu({ index: i, uuid: `GPU-emu-${i}`, prefix: join(dir, `gpu${i}`), graphicsClocksMhz: CLOCKS_MHZ, idlePowerWatts: IDLE_WATTS }));
  const statuses = new Map<string, AgentRankStatus>();
  const agent = new NodeAgent({
    nodeName: 'torch-node',
    gpus,
    podGpus: { gpusForPod: (_ns, pod) => Promise.resolve([`GPU-emu-${Number(pod.slice(pod.lastIndexOf('-') + 1))}`]) },
    statusSink: { write: (key, status) => Promise.resolve(void statuses.set(key.name, status)) },
    statusIntervalMs: 250,
    apiServerLeaseMs: 0,
    connectionGraceMs: 120_000,
  });
  const rankName = (stage: number): string => `${JOB}-p0-s${stage}`;
  const tokens = Array.from({ length: STAGES }, () => randomBytes(24).toString('hex'));
  const base = (stage: number): Omit<AgentRankSpec, 'mode'> => ({ namespace: NAMESPACE, name: rankName(stage), job: JOB, pipeline: 0, stage, podName: `${JOB}-worker-${stage}`, tokenSha256: sha256Hex(tokens[stage]!) });
  const server = new AgentSocketServer(agent, { path: join(dir, 'agent.sock') });
  const children: ChildProcess[] = [];
  const events: IterationEvent[] = [];
  const overheadUs: number[] = Array.from({ length: STAGES }, () => NaN);
  const overheadMedianUs: number[] = Array.from({ length: STAGES }, () => NaN);
  const stderr: string[] = Array.from({ length: STAGES }, () => '');
  try {
    agent.start();
    for (let s = 0; s < STAGES; s++) {
      await agent.upsertRank({ ...base(s), mode: 'Idle' });
    }
    await server.listen();
    const port = await freePort();
    const exits: Promise<number>[] = [];
    for (let s = 0; s < STAGES; s++) {
      const tokenFile = join(dir, `token${s}`);
      writeFileSync(tokenFile, tokens[s]!);
      const { straggler: g } = o;
      const child = spawn(o.python, [EXAMPLE, '--iterations', String(o.iterations), '--microbatches', String(o.microbatches), '--straggler', `stage=${g.stage},factor=${g.factor},at=${g.at},until=${g.until}`], {
        env: {
          ...process.env,
          PYTHONUNBUFFERED: '1',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
          WORLD_SIZE: String(STAGES),
          RANK: String(s),
          PERSEUS_AGENT_SOCKET: join(dir, 'agent.sock'),
          PERSEUS_RANK: rankName(s),
          PERSEUS_NAMESPACE: NAMESPACE,
          PERSEUS_POD: `${JOB}-worker-${s}`,
          PERSEUS_TOKEN_FILE: tokenFile,
          PERSEUS_EMULATED_GPU: join(dir, `gpu${s}`),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let buffered = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          let msg: Record<string, unknown>;
          try {
            msg = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          if (msg.event === 'iteration') events.push(msg as unknown as IterationEvent);
          if (msg.event === 'done') {
            overheadUs[s] = Number(msg.overheadUs);
            overheadMedianUs[s] = Number(msg.overheadMedianUs);
            if (msg.connected !== true) process.emitWarning(`stage ${s} ended without an agent connection`);
          }
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr[s] = (stderr[s]! + chunk).slice(-4000)));
      exits.push(new Promise((res) => child.once('exit', (code, signal) => res(code ?? (signal === null ? 1 : 128)))));
    }

    // The controller's part, polled as its reconcile would be.
    const lastIteration = (): number => Math.max(-1, ...events.filter((e) => e.stage === STAGES - 1).map((e) => e.iteration));
    let profile: StageProfile | undefined;
    let frontier: ReturnType<typeof solveFrontier> | undefined;
    let basePlan: ChosenPlan | undefined;
    let fastest: ChosenPlan | undefined;
    let baseline: { timeSeconds: number; energyJoules: number } | undefined;
    let plannedAt = -1;
    let generation = 0;
    let stragglers: StragglerEntry[] = [];
    let lastReplanMs = 0;
    let overheadRatio: number | undefined;
    const replans: Replan[] = [];
    const apply = (plan: FrequencyPlan): void => {
      for (let s = 0; s < STAGES; s++) {
        const stagePlan = plan.stages.find((p) => p.stage === s)!;
        void agent.upsertRank({ ...base(s), mode: 'Run', plan: { generation, granularity: plan.granularity, stagePlan } });
      }
    };
    let profiling = false;
    const tick = (): void => {
      // Profiling starts once training runs steadily (its first iterations pay for allocation and warm-up),
      // as the controller's starts once the profiling pods run.
      if (!profiling) {
        if (lastIteration() < 1) return;
        profiling = true;
        for (let s = 0; s < STAGES; s++) {
          void agent.upsertRank({ ...base(s), mode: 'Profile', profiling: { warmupIterations: 1, iterationsPerClock: o.iterationsPerClock, clockStrideMhz: o.clockStrideMhz, earlyStop: false } });
        }
        log(`Profiling from iteration ${lastIteration() + 1}`);
        return;
      }
      if (profile === undefined) {
        const ranks = Array.from({ length: STAGES }, (_, s) => statuses.get(rankName(s)));
        if (!ranks.every((r) => r?.profile !== undefined)) return;
        const measurements: ProfileMeasurement[] = [];
        const blocking: number[] = [];
        ranks.forEach((r, s) => {
          measurements.push(...r!.profile!.measurements.filter((m) => m.stage === s));
          if (r!.profile!.blockingPowerWatts !== undefined) blocking.push(r!.profile!.blockingPowerWatts);
        });
        profile = { stageCount: STAGES, measurements, ...(blocking.length === 0 ? {} : { blockingPowerWatts: blocking.reduce((a, b) => a + b, 0) / blocking.length }) };
        const pipeline: PipelineSpec = { stages: STAGES, microbatches: o.microbatches, schedule: '1F1B' };
        const options: PlannerOptions = { unitTimeSeconds: 0.001, blockingPowerWatts: profile.blockingPowerWatts ?? 0, costModel: 'exact', granularity: 'Instruction' };
        frontier = solveFrontier(profile, pipeline, options);
        const b = evaluatePlan(allMaxPlan(profile, pipeline, 'Instruction'), profile, pipeline, options.blockingPowerWatts);
        baseline = { timeSeconds: b.timeSeconds, energyJoules: b.energyJoules };
        basePlan = choosePlan(frontier, baseline.timeSeconds);
        fastest = fastestPlan(frontier);
        generation = 1;
        plannedAt = lastIteration();
        lastReplanMs = performance.now();
        apply(basePlan.plan);
        log(`Planned at iteration ${plannedAt}: ${measurements.length} profile rows, ${frontier.points.length} frontier points, plan ${basePlan.point.trueTimeSeconds.toFixed(3)} s ${basePlan.point.trueEnergyJoules.toFixed(1)} J vs all-max ${baseline.timeSeconds.toFixed(3)} s ${baseline.energyJoules.toFixed(1)} J`);
        return;
      }
      const ranks = new Map(Array.from({ length: STAGES }, (_, s) => [rankName(s), asRank(rankName(s), statuses.get(rankName(s)))] as const));
      // The model times only the computations; a real iteration adds the optimizer step, data, transfers
      // and Python. The first full window under the plan calibrates that share, so that it never reads as
      // a straggler (the controller compares against the model time alone).
      if (overheadRatio === undefined) {
        const m = measuredPipelineSeconds({ ranks, jobName: JOB, pipelines: 1, stages: STAGES, generation, window: o.window, threshold: o.threshold, current: [], expectedSeconds: () => 0, now: '' }, 0);
        if (m === undefined || lastIteration() < plannedAt + o.window + 1) return;
        overheadRatio = Math.max(1, m.seconds / basePlan!.point.trueTimeSeconds);
        log(`Calibrated at iteration ${lastIteration()}: measured ${m.seconds.toFixed(3)} s per iteration, ${overheadRatio.toFixed(2)}× the plan's model time`);
        return;
      }
      const ratio = overheadRatio;
      const detection = detectStragglers({
        ranks,
        jobName: JOB,
        pipelines: 1,
        stages: STAGES,
        generation,
        window: o.window,
        threshold: o.threshold,
        current: stragglers,
        expectedSeconds: (p) => ratio * (stragglers.some((s) => s.pipeline === p) ? fastest!.point.trueTimeSeconds : basePlan!.point.trueTimeSeconds),
        now: new Date().toISOString(),
      });
      if (!detection.changed || performance.now() < lastReplanMs + o.cooldownMs) return;
      stragglers = detection.stragglers;
      generation++;
      lastReplanMs = performance.now();
      // As the controller does: a straggling pipeline runs the fastest plan, the others (none here) the
      // cheapest plan that still meets the straggler's time; recovery restores the base plan.
      const chosen = stragglers.length > 0 ? fastest! : basePlan!;
      apply(chosen.plan);
      replans.push({ generation, atIteration: lastIteration(), stragglers, planSeconds: chosen.point.trueTimeSeconds });
      log(`Replanned at iteration ${lastIteration()} (generation ${generation}): ${stragglers.length > 0 ? stragglers.map((s) => `straggler pipeline ${s.pipeline} ${s.slowdown.toFixed(2)}× (${s.iterationSeconds.toFixed(3)} s)`).join(', ') : 'stragglers recovered'}`);
    };
    const timer = setInterval(tick, 100);
    let lastLogged = -1;
    const progress = setInterval(() => {
      const it = lastIteration();
      if (it >= lastLogged + 10) {
        lastLogged = it;
        const e = events.filter((x) => x.stage === STAGES - 1).at(-1);
        log(`iteration ${it}: ${e?.seconds.toFixed(3) ?? '-'} s, loss ${e?.loss?.toFixed(3) ?? '-'}, plan generation ${generation}`);
      }
    }, 500);
    const deadline = new Promise<never>((_res, rej) => setTimeout(() => rej(new Error(`timed out after ${(o.timeoutMs ?? 300_000) / 1000} s at iteration ${lastIteration()}`)), o.timeoutMs ?? 300_000).unref());
    let codes: number[];
    try {
      codes = await Promise.race([Promise.all(exits), deadline]);
    } finally {
      clearInterval(timer);
      clearInterval(progress);
    }
    codes.forEach((code, s) => {
      if (code !== 0) throw new Error(`stage ${s} exited with code ${code}: ${stderr[s]!.trim().split('\n').slice(-5).join('\n')}`);
    });
    if (profile === undefined || basePlan === undefined || baseline === undefined) throw new Error('the profiling sweep did not finish within the training run');

    // The computations that ran under generation 1 (after it was applied, before the straggler): at which clock?
    let computations = 0;
    let atPlanned = 0;
    const distinct = new Set<number>();
    const firstChecked = plannedAt + 2;
    const lastChecked = Math.min(o.straggler.at, replans[0]?.atIteration ?? Infinity) - 1;
    for (const e of events) {
      if (e.iteration < firstChecked || e.iteration > lastChecked || e.clocks === undefined) continue;
      const planned = basePlan.plan.stages.find((p) => p.stage === e.stage)!.computations;
      e.clocks.forEach((mhz, i) => {
        computations++;
        distinct.add(mhz);
        if (planned[i]?.frequencyMhz === mhz) atPlanned++;
      });
    }
    const lastStage = events.filter((e) => e.stage === STAGES - 1).sort((a, b) => a.iteration - b.iteration);
    const planWindow = lastStage.filter((e) => e.iteration >= firstChecked && e.iteration <= lastChecked);
    return {
      iterations: lastStage.length,
      losses: lastStage.map((e) => e.loss ?? NaN),
      profileRows: profile.measurements.length,
      profiledClocksMhz: [...new Set(profile.measurements.map((m) => m.frequencyMhz))].sort((a, b) => b - a),
      blockingPowerWatts: profile.blockingPowerWatts,
      frontierPoints: frontier!.points.length,
      baseline,
      planned: { timeSeconds: basePlan.point.trueTimeSeconds, energyJoules: basePlan.point.trueEnergyJoules, atIteration: plannedAt },
      clockCheck: { computations, atPlannedClock: atPlanned, distinctClocksMhz: [...distinct].sort((a, b) => b - a) },
      measuredPlanSeconds: planWindow.length === 0 ? undefined : planWindow.reduce((a, e) => a + e.seconds, 0) / planWindow.length,
      replans,
      overheadUs,
      overheadMedianUs,
      overheadRatio,
      wallSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    agent.shutdown();
    await server.close();
    for (const g of gpus) g.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The summary printed at the end of a run. */
export function summarize(r: TorchPipelineResult, o: TorchPipelineOptions): string {
  const first = r.losses.slice(0, 3);
  const last = r.losses.slice(-3);
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const saved = 1 - r.planned.energyJoules / r.baseline.energyJoules;
  const detected = r.replans.find((p) => p.stragglers.length > 0);
  const recovered = r.replans.find((p) => p.stragglers.length === 0);
  return [
    `Trained ${r.iterations} iterations of a 4-stage GPT (torch.distributed gloo, 1F1B, ${o.microbatches} micro-batches) in ${r.wallSeconds.toFixed(1)} s`,
    `Loss: ${mean(first).toFixed(3)} (first 3 iterations) -> ${mean(last).toFixed(3)} (last 3)`,
    `Profile: ${r.profileRows} rows measured by the agent's sweep at ${r.profiledClocksMhz.join(', ')} MHz; blocking power ${r.blockingPowerWatts?.toFixed(1) ?? '-'} W`,
    `Plan: ${r.frontierPoints} frontier points; applied at iteration ${r.planned.atIteration}: model ${r.planned.timeSeconds.toFixed(3)} s ${r.planned.energyJoules.toFixed(1)} J vs all-max ${r.baseline.timeSeconds.toFixed(3)} s ${r.baseline.energyJoules.toFixed(1)} J (${(saved * 100).toFixed(1)} % less energy)`,
    `Clocks applied: ${r.clockCheck.atPlannedClock} of ${r.clockCheck.computations} computations ran at their planned clock (${r.clockCheck.distinctClocksMhz.join(', ')} MHz); measured iteration ${r.measuredPlanSeconds?.toFixed(3) ?? '-'} s`,
    detected === undefined
      ? `Straggler: stage ${o.straggler.stage} ${o.straggler.factor}× from iteration ${o.straggler.at} not detected`
      : `Straggler: stage ${o.straggler.stage} ${o.straggler.factor}× from iteration ${o.straggler.at}; detected at iteration ${detected.atIteration} (pipeline ${detected.stragglers[0]!.pipeline} ${detected.stragglers[0]!.slowdown.toFixed(2)}×), replanned to generation ${detected.generation} (fastest plan, model ${detected.planSeconds.toFixed(3)} s)`,
    recovered === undefined ? `Recovery: not observed` : `Recovery: from iteration ${o.straggler.until}; restored the plan at iteration ${recovered.atIteration} (generation ${recovered.generation})`,
    `Iteration overhead outside the computations: measured ${r.overheadRatio?.toFixed(2) ?? '-'}× the model time under the plan (calibrated before straggler detection)`,
    `Client overhead per begin/end pair (median / mean): ${r.overheadMedianUs.map((u, s) => `stage ${s} ${u.toFixed(1)} / ${r.overheadUs[s]!.toFixed(1)} µs`).join(', ')}`,
  ].join('\n');
}

export const DEFAULT_OPTIONS: Omit<TorchPipelineOptions, 'python'> = {
  iterations: 52,
  microbatches: 4,
  straggler: { stage: 2, factor: 4, at: 30, until: 40 },
  threshold: 0.3,
  window: 4,
  cooldownMs: 0,
  clockStrideMhz: 200,
  iterationsPerClock: 2,
};

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const python = findTorchPython();
  if (python === undefined) {
    process.stderr.write('No python3 with torch found (install python3-torch, or set PERSEUS_TORCH_PYTHON)\n');
    process.exit(2);
  }
  const options = { ...DEFAULT_OPTIONS, python, log: (line: string) => process.stderr.write(`${line}\n`) };
  const result = await runTorchPipeline(options);
  process.stdout.write(`${summarize(result, options)}\n`);
}
