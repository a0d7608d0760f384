// `perseus simulate`: the whole system end to end on simulated GPUs (DESIGN §7). Wiring only: flags, the
// GPU profile, the jobs, progress on the terminal, and the report.
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseStageProfileCsv, unwrap } from '../planner/index.ts';
import { BUNDLED_GPUS, defaultJob, loadJobs, SIM_NAMESPACE, type JobManifest } from '../sim/simulate/job.ts';
import { renderSummary, writeReport } from '../sim/simulate/report.ts';
import { runSimulation, SimulationError, type MetricsEndpoints } from '../sim/simulate/simulation.ts';
import type { StragglerInjection } from '../sim/simulate/worker.ts';
import { FlagError, intFlag, numberFlag, parseFlags, runCommand } from './flags.ts';
import type { Command } from './main.ts';

const HELP = `Usage: perseus simulate [JOB.yaml...] [flags]

Runs the controller, one node agent per simulated node, a simulated kubelet and simulated training workers
(speaking the real local training API) on simulated GPUs whose time and power per clock follow a measured
profile. Without JOB.yaml: the bundled GPT-3 example (8 stages × 2 pipelines, 12 micro-batches, A100).

  --kubeconfig FILE      attach to this cluster instead of the embedded API server (simulated Nodes are
                         registered; the kubelet acts for pods bound to them)
  --no-controller        with --kubeconfig: a 'perseus controller' runs elsewhere
  --schedule-pods        with --kubeconfig: also bind pending pods to the simulated nodes, for API servers
                         with no scheduler (such as 'perseus apiserver')
  --nodes N              simulated GPU nodes (default 2)
  --gpus-per-node G      GPUs per node (default 8)
  --gpu a100|a40|CSV     GPU profile: bundled A100 or A40, or a stage profile CSV (default a100)
  --blocking-power W     GPU power while waiting (default 83.64)
  --pipelines P          data-parallel pipelines of the default job (default 2)
  --microbatches M       micro-batches of the default job (default: the example's 12)
  --iterations N         training iterations per worker (default 200)
  --straggler SPEC       pipeline=P,factor=F,at=ITER[,until=ITER]: slow pipeline P's GPUs F× between
                         training iterations at and until
  --time-scale X         at most X simulated seconds per wall second (default 200)
  --timeout T            give up after T wall seconds (default 1800)
  --report DIR           write report.json, summary.md, energy.svg, iterations.svg
  --metrics-port N       serve /metrics like the deployed processes: the controller on N, node i's agent
                         on N+1+i (0: free ports, printed at start); default: none
  --quiet                no progress lines
`;

const flags = {
  kubeconfig: { type: 'string' },
  'no-controller': { type: 'boolean' },
  'schedule-pods': { type: 'boolean' },
  nodes: { type: 'string' },
  'gpus-per-node': { type: 'string' },
  gpu: { type: 'string' },
  'blocking-power': { type: 'string' },
  pipelines: { type: 'string' },
  microbatches: { type: 'string' },
  iterations: { type: 'string' },
  straggler: { type: 'string' },
  'time-scale': { type: 'string' },
  timeout: { type: 'string' },
  report: { type: 'string' },
  'metrics-port': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseStraggler(raw: string): StragglerInjection {
  const fields = new Map(raw.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  for (const k of fields.keys())
    if (!['pipeline', 'factor', 'at', 'until'].includes(k))
      throw new FlagError(
        `--straggler: unknown field "${k}" (expected pipeline=P,factor=F,at=ITER[,until=ITER])`,
      );
  const num = (k: string, min: number, integer: boolean): number => {
    const v = Number(fields.get(k));
    if (!fields.has(k) || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
      throw new FlagError(
        `--straggler: ${k} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${fields.get(k) ?? 'nothing'}`,
      );
    return v;
  };
  const s = {
    pipeline: num('pipeline', 0, true),
    factor: num('factor', 1, false),
    atIteration: num('at', 0, true),
  };
  if (!fields.has('until')) return s;
  const until = num('until', s.atIteration + 1, true);
  return { ...s, untilIteration: until };
}

export const command: Command = {
  summary: 'Run the whole system end to end on simulated GPUs',
  run: (argv) =>
    runCommand('simulate', async () => {
      const { values, positionals } = parseFlags(argv, flags, true);
      if (values.help === true) {
        process.stdout.write(HELP);
        return 0;
      }
      const gpuFlag = values.gpu ?? 'a100';
      const bundled = BUNDLED_GPUS[gpuFlag];
      if (bundled === undefined && !existsSync(gpuFlag))
        throw new FlagError(`--gpu: expected a100, a40 or a stage profile CSV file, got ${gpuFlag}`);
      const profile = unwrap(parseStageProfileCsv(readFileSync(bundled?.csv ?? gpuFlag, 'utf8')));
      const iterations = intFlag('iterations', values.iterations, 200);
      const pipelines = intFlag('pipelines', values.pipelines, 2);
      const jobs =
        positionals.length > 0
          ? loadJobs(positionals, SIM_NAMESPACE)
          : [
              defaultJob({
                pipelines,
                iterations,
                ...(values.microbatches === undefined
                  ? {}
                  : { microbatches: intFlag('microbatches', values.microbatches, 12) }),
              }),
            ];
      if (values['no-controller'] === true && values.kubeconfig === undefined)
        throw new FlagError(
          '--no-controller: only with --kubeconfig (the embedded cluster has no other controller)',
        );
      if (values['schedule-pods'] === true && values.kubeconfig === undefined)
        throw new FlagError(
          '--schedule-pods: only with --kubeconfig (on the embedded cluster the simulation always schedules pods)',
        );
      const nodes = intFlag('nodes', values.nodes, 2);
      const gpusPerNode = intFlag('gpus-per-node', values['gpus-per-node'], 8);
      const straggler = stragglerFlag(values.straggler, jobs);
      if (values.report !== undefined) checkWritableDir('report', values.report);
      const metricsPort = metricsPortFlag(values['metrics-port'], nodes);
      const quiet = values.quiet === true;
      process.stderr.write(
        `Simulating ${jobs.map((j) => `${j.metadata.namespace}/${j.metadata.name}`).join(', ')} on ${nodes} nodes × ${gpusPerNode} GPUs (${bundled?.name ?? gpuFlag})${values.kubeconfig === undefined ? ' with the embedded API server' : ` attached to ${values.kubeconfig}`}\n`,
      );
      let result;
      try {
        result = await runSimulation({
          jobs,
          ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
          runController: values['no-controller'] !== true,
          schedulePods: values['schedule-pods'] === true,
          nodes,
          gpusPerNode,
          gpuName: bundled?.name ?? gpuFlag,
          profile,
          blockingPowerWatts: numberFlag(
            'blocking-power',
            values['blocking-power'],
            profile.blockingPowerWatts ?? 83.64,
            0,
            10_000,
          ),
          timeScale: numberFlag('time-scale', values['time-scale'], 200, 1e-3),
          iterations,
          ...(straggler === undefined ? {} : { straggler }),
          timeoutMs: numberFlag('timeout', values.timeout, 1800, 1) * 1000,
          ...(quiet ? {} : { onProgress: (line: string) => void process.stderr.write(`${line}\n`) }),
          logLevel: process.env.LOG_LEVEL ?? 'error',
          ...(metricsPort === undefined
            ? {}
            : {
                metricsPort,
                onMetricsListening: (e: MetricsEndpoints) =>
                  void process.stderr.write(
                    `Serving /metrics: ${[...(e.controllerPort === undefined ? [] : [`controller :${e.controllerPort}`]), ...e.agents.map((a) => `${a.node} agent :${a.port}`)].join(', ')}\n`,
                  ),
              }),
        });
      } catch (err) {
        if (err instanceof SimulationError) {
          process.stderr.write(`perseus simulate: ${err.message}\n`);
          return 1;
        }
        throw err;
      }
      process.stdout.write(`\n${renderSummary(result)}`);
      if (values.report !== undefined) {
        const files = writeReport(values.report, result);
        process.stdout.write(`\nWrote ${files.join(', ')}\n`);
      }
      const ok = result.jobs.every((j) => j.status?.phase === 'Succeeded') && result.clocksResetAtEnd;
      return ok ? 0 : 1;
    }),
};

/** --straggler: parsed, and its pipeline checked to exist in the job with the most pipelines. */
function stragglerFlag(raw: string | undefined, jobs: readonly JobManifest[]): StragglerInjection | undefined {
  if (raw === undefined) return undefined;
  const straggler = parseStraggler(raw);
  const most = Math.max(...jobs.map((j) => (j.spec['topology'] as { dataParallel?: number } | undefined)?.dataParallel ?? 1));
  if (straggler.pipeline >= most) {
    throw new FlagError(
      `--straggler: pipeline must be < ${most} (the job${jobs.length > 1 ? 's have' : ' has'} ${most} pipeline${most > 1 ? 's' : ''}), got ${straggler.pipeline}`,
    );
  }
  return straggler;
}

/** --metrics-port: the controller's port, with room for one agent port per node above it. */
function metricsPortFlag(raw: string | undefined, nodes: number): number | undefined {
  if (raw === undefined) return undefined;
  const max = 65535 - nodes;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > max) {
    throw new FlagError(`--metrics-port: expected an integer in [0, ${max}] (node i's agent serves on the port + 1 + i), got "${raw}"`);
  }
  return Number(raw);
}

/** Creates `dir` if needed and checks it is writable, so a long run does not fail at its very end. */
function checkWritableDir(flag: string, dir: string): void {
  try {
    // One level at a time: Node's recursive mkdir never returns for some paths (under /proc, for one).
    const missing: string[] = [];
    let at = resolve(dir);
    while (!existsSync(at)) {
      missing.unshift(at);
      const parent = dirname(at);
      if (parent === at) break;
      at = parent;
    }
    for (const d of missing) mkdirSync(d);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new FlagError(`--${flag}: expected a writable directory, got ${dir} (${(err as Error).message})`);
  }
}
