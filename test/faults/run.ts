// `npm run test:faults [-- --seed N --trials N --quick --only a,b]`: the fault suite against the real
// control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler from $KUBEBUILDER_ASSETS).
// Prints one table (fault, trials, jobs finished, restarts, re-profilings, objects lost or duplicated,
// clocks left locked) and exits 1 when any trial broke an invariant.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { BUNDLED_GPUS } from '../../src/sim/simulate/job.ts';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, envtestUnavailable, stopControlPlane } from '../support/envtest.ts';
import { FAULTS, QUICK } from './catalog.ts';
import { Prng } from './prng.ts';
import { TcpProxy } from './tcp-proxy.ts';
import { runTrial, viaProxy, type Suite, type TrialResult } from './trial.ts';

const usage = `Usage: npm run test:faults -- [--seed N] [--trials N] [--quick] [--only FAULT,...]

  --seed N     seed of every random choice (default: the time)
  --trials N   trials per fault (default: one per phase the fault is injected in)
  --quick      ${QUICK.join(', ')}: one trial each
  --only LIST  only these faults (${FAULTS.map((f) => f.name).join(', ')})
`;

function flagInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name}: expected a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { seed: { type: 'string' }, trials: { type: 'string' }, quick: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const seed = flagInt('seed', values.seed) ?? Date.now() % 100_000;
  const trialsFlag = flagInt('trials', values.trials);
  const only = values.only?.split(',').filter((s) => s !== '') ?? (values.quick === true ? QUICK : undefined);
  for (const name of only ?? []) if (!FAULTS.some((f) => f.name === name)) throw new Error(`--only: unknown fault ${JSON.stringify(name)}; expected one of ${FAULTS.map((f) => f.name).join(', ')}`);
  const faults = FAULTS.filter((f) => only === undefined || only.includes(f.name));
  const unavailable = envtestUnavailable();
  if (unavailable) throw new Error(`the fault suite needs the real control plane: ${unavailable}`);

  const t0 = Date.now();
  console.log(`Fault suite, seed ${seed}: starting the control plane`);
  const cp = await controlPlane();
  const ids = await chartIdentities(cp);
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(cp.url).port));
  const proxyPort = await proxy.listen();
  const dir = mkdtempSync(join(tmpdir(), 'perseus-faults-'));
  const suite: Suite = {
    cp,
    ids,
    proxy,
    dir,
    adminKubeconfigPath: viaProxy(dir, 'admin.kubeconfig', cp.adminKubeconfigYaml, proxyPort),
    controllerKubeconfigPath: viaProxy(dir, 'controller.kubeconfig', ids.controllerKubeconfig, proxyPort),
    profile: unwrap(parseStageProfileCsv(readFileSync(BUNDLED_GPUS['a100']!.csv, 'utf8'))),
  };
  const results: TrialResult[] = [];
  try {
    for (const [fi, fault] of FAULTS.entries()) {
      if (!faults.includes(fault)) continue;
      const trials = values.quick === true ? 1 : (trialsFlag ?? fault.phases.length);
      for (let i = 0; i < trials; i++) {
        const rng = new Prng(seed * 7919 + fi * 104_729 + i);
        console.log(`${fault.name} #${i + 1}/${trials} (${fault.phases[i % fault.phases.length]})`);
        const r = await runTrial(suite, fault, seed, i, rng, (line) => console.log(line));
        console.log(`    ${r.finished ? 'finished' : 'NOT FINISHED'}, ${r.restarts} restarts, ${r.reprofilings} re-profilings, ${r.lost.length + r.duplicated.length} lost/duplicated, ${r.lockedClocks} clocks locked (${r.wallSeconds.toFixed(0)} s)`);
        results.push(r);
      }
    }
  } finally {
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
    await stopControlPlane();
  }
  console.log('');
  console.log(table(results, faults.map((f) => f.name)));
  console.log('');
  console.log(`seed ${seed}, ${results.length} trials in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const bad = results.filter((r) => !r.finished || r.lost.length + r.duplicated.length > 0 || r.lockedClocks > 0 || r.reprofilings > 0 || !r.injected);
  // Each failed trial's notes again, last: the part of a long log that a CI summary shows.
  for (const r of bad) console.log(`FAILED: ${r.fault} #${r.trial + 1} (${r.phase})\n${r.notes.map((n) => `    ${n}`).join('\n')}`);
  writeCounts(results.length - bad.length, bad.length);
  return bad.length === 0 ? 0 : 1;
}

/** With PERSEUS_FAULTS_COUNTS set (CI), writes {"passed","failed"} trials there for the run's summary line. */
function writeCounts(passed: number, failed: number): void {
  const file = process.env['PERSEUS_FAULTS_COUNTS'];
  if (file !== undefined && file !== '') writeFileSync(file, JSON.stringify({ passed, failed }));
}

/** The suite's table (Markdown): one row per fault, sums over its trials. */
export function table(results: readonly TrialResult[], order: readonly string[]): string {
  const lines = ['| fault | trials | injected | jobs finished | restarts | re-profilings | objects lost or duplicated | clocks left locked |', '|---|---|---|---|---|---|---|---|'];
  for (const name of order) {
    const rs = results.filter((r) => r.fault === name);
    if (rs.length === 0) continue;
    const sum = (f: (r: TrialResult) => number): number => rs.reduce((n, r) => n + f(r), 0);
    lines.push(`| ${name} | ${rs.length} | ${sum((r) => (r.injected ? 1 : 0))} | ${sum((r) => (r.finished ? 1 : 0))} | ${sum((r) => r.restarts)} | ${sum((r) => r.reprofilings)} | ${sum((r) => r.lost.length + r.duplicated.length)} | ${sum((r) => r.lockedClocks)} |`);
  }
  return lines.join('\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test:faults: ${(err as Error).message}`);
    writeCounts(0, 1);
    process.exit(2);
  },
);
