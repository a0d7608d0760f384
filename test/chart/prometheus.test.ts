// A real Prometheus scrapes the controller and the node agents of a `perseus simulate` run: every query of
// the Grafana dashboard must return data, and the chart's alert rules, loaded into that Prometheus, must fire
// for the conditions the run creates (a straggler, a failed job; agents and controller gone at the end).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { BUNDLED_GPUS, defaultJob, SIM_NAMESPACE, type JobManifest } from '../../src/sim/simulate/job.ts';
import { runSimulation, type SimulationResult } from '../../src/sim/simulate/simulation.ts';
import { CHART } from './helm.ts';
import { freePortRange, prometheusBinary, PrometheusServer, type PromAlert, type PromSeries } from '../support/prometheus.ts';

const RULES_FILE = join(CHART, 'files', 'perseus-alerts.yaml');
const DASHBOARD_FILE = join(CHART, 'files', 'perseus-dashboard.json');
const NODES = 2;
const SCRAPE_SECONDS = 1;
/** Grafana's $__rate_interval: max(4 × scrape interval, $__interval + scrape interval). */
const RATE_INTERVAL = `${4 * SCRAPE_SECONDS}s`;
const STRAGGLER_PIPELINE = 1;
/**
 * Simulated seconds: 10 wall seconds at the run's 25×. PerseusJobFailed sees a rise of the Failed count,
 * so the controller must have been scraped before the job fails, on a loaded machine too.
 */
const DOOMED_DEADLINE_SECONDS = 250;

interface Rule {
  alert: string;
  expr: string;
  for?: string;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface Dashboard {
  panels: { title: string; type: string; targets?: { expr: string; refId?: string }[] }[];
  templating: { list: { name: string; type: string; query?: { query: string } | string; allValue?: string }[] };
}

/**
 * The chart's rules with the waits shortened so that a run of seconds can trip them: `for` of the alerts
 * exercised here becomes 0s, and PerseusJobStragglerPersisting looks at 4 s instead of 30 minutes. Every
 * other rule is loaded as shipped.
 */
function testRules(): { rules: RuleFile; overridden: string[] } {
  const rules = yaml.load(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
  const overrides: Record<string, (r: Rule) => void> = {
    PerseusStragglerPersisting: (r) => (r.for = '0s'),
    PerseusJobStragglerPersisting: (r) => {
      assert.ok(r.expr.includes('[30m]'), `PerseusJobStragglerPersisting looks back 30m: ${r.expr}`);
      r.expr = r.expr.replace('[30m]', '[4s]');
    },
    PerseusAgentDown: (r) => (r.for = '0s'),
    PerseusControllerDown: (r) => (r.for = '0s'),
  };
  for (const [name, change] of Object.entries(overrides)) {
    const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
    assert.ok(rule !== undefined, `the chart has alert ${name}`);
    change(rule);
  }
  return { rules, overridden: Object.keys(overrides) };
}

/**
 * A job that fails a few seconds into the run, once Prometheus has seen no failed job: its pods ask for 16
 * GPUs on nodes of 8, so they never start, and its activeDeadlineSeconds (simulated) runs out.
 */
function doomedJob(): JobManifest {
  const job = defaultJob({ pipelines: 1, iterations: 1 });
  const spec = job.spec as { topology: Record<string, unknown>; runPolicy: Record<string, unknown> };
  spec.topology = { ...spec.topology, stages: 2, tensorParallel: 16 };
  spec.runPolicy = { backoffLimit: 0, activeDeadlineSeconds: DOOMED_DEADLINE_SECONDS };
  return { ...job, metadata: { name: 'doomed', namespace: SIM_NAMESPACE } };
}

/** A dashboard selection: what Grafana substitutes for each template variable. */
interface Selection {
  readonly label: string;
  readonly vars: Readonly<Record<string, string>>;
}

/** Substitutes template variables ($x and ${x}) like Grafana; an unknown variable is an error. */
function substitute(expr: string, vars: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    // `$1` is a label_replace back-reference, not a variable.
    if (/^\d/.test(name)) return whole;
    const value = vars[name];
    if (value === undefined) throw new Error(`dashboard variable $${name} has no test value (in ${expr})`);
    return value;
  });
}

const hasFinite = (s: PromSeries): boolean => [...(s.values ?? []), ...(s.value === undefined ? [] : [s.value])].some(([, v]) => Number.isFinite(Number(v)));

// CI installs Debian's `prometheus` (.ci/run); elsewhere: apt-get install prometheus.
const SKIP_REASON = prometheusBinary() === undefined ? 'prometheus is not on PATH; apt-get install prometheus' : undefined;

describe(`Prometheus scraping a simulation: dashboard queries and alert rules${SKIP_REASON === undefined ? '' : ` (skipped: ${SKIP_REASON})`}`, function () {
  this.timeout(180_000);
  let prom: PrometheusServer | undefined;
  let simulation: Promise<SimulationResult> | undefined;
  let result: SimulationResult | undefined;
  let simError: unknown;
  let overridden: string[] = [];
  const chartRules = yaml.load(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
  const panelQueries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  // Collected while the simulation runs, asserted below.
  let upScrapes: PromSeries[] = [];
  let checkAtSeconds = 0;
  let startSeconds = 0;
  const instant = new Map<string, { expr: string; series: PromSeries[] | Error }>();
  const ranged = new Map<string, { expr: string; series: PromSeries[] | Error }>();
  const variableValues = new Map<string, string[] | Error>();
  /** Alerts seen firing while every target was up, by name. */
  const firingWhileUp = new Map<string, PromAlert[]>();
  let firingAtCheck: PromAlert[] = [];
  let firingAfterStop: PromAlert[] = [];
  const ruleNames = new Set<string>();
  const ruleProblems: string[] = [];

  before(async function () {
    if (SKIP_REASON !== undefined) {
      console.log(`Skipping the Prometheus checks: ${SKIP_REASON}`);
      this.skip();
    }
    const test = testRules();
    overridden = test.overridden;
    const base = await freePortRange(NODES + 1);
    prom = await PrometheusServer.start({
      jobs: [
        { name: 'perseus-controller', targets: [`127.0.0.1:${base}`] },
        { name: 'perseus-agent', targets: Array.from({ length: NODES }, (_, i) => `127.0.0.1:${base + 1 + i}`) },
      ],
      rules: [test.rules],
      scrapeIntervalSeconds: SCRAPE_SECONDS,
      evaluationIntervalSeconds: SCRAPE_SECONDS,
    });
    const p = prom;
    startSeconds = Date.now() / 1000;

    // The bundled GPT-3 job, with pipeline 1 slowed 1.2× from its 4th training iteration to the end. At
    // 25× a 2-core machine keeps up and one-second scrapes see every phase; 150 iterations keep the job
    // running well past the doomed job's deadline and leave the straggler over 10 s of wall time after
    // its detection, enough for the 4 s rule window.
    const profile = unwrap(parseStageProfileCsv(readFileSync(BUNDLED_GPUS['a100']!.csv, 'utf8')));
    const iterations = 150;
    simulation = runSimulation({
      jobs: [defaultJob({ pipelines: 2, iterations }), doomedJob()],
      nodes: NODES,
      gpusPerNode: 8,
      gpuName: 'A100',
      profile,
      blockingPowerWatts: 83.64,
      timeScale: 25,
      iterations,
      straggler: { pipeline: STRAGGLER_PIPELINE, factor: 1.2, atIteration: 4 },
      timeoutMs: 150_000,
      metricsPort: base,
    });
    let finished = false;
    simulation.then(
      (r) => {
        result = r;
        finished = true;
      },
      (err: unknown) => {
        simError = err;
        finished = true;
      },
    );

    // While it runs: collect firing alerts once every target is up; check the dashboard once the straggler
    // and job-failed alerts fire (every panel then has something to show), or when the run ends.
    const allUp = async (): Promise<boolean> => {
      const up = await p.query('up');
      return up.length === NODES + 1 && up.every((s) => s.value?.[1] === '1');
    };
    for (;;) {
      const up = await allUp();
      if (up) {
        for (const a of (await p.alerts()).filter((x) => x.state === 'firing')) {
          const name = a.labels['alertname'] ?? '';
          firingWhileUp.set(name, [...(firingWhileUp.get(name) ?? []), a]);
        }
      }
      if (finished || (up && ['PerseusStragglerPersisting', 'PerseusJobStragglerPersisting', 'PerseusJobFailed'].every((n) => firingWhileUp.has(n)))) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    checkAtSeconds = Date.now() / 1000;
    upScrapes = await p.query('sum_over_time(up[1m])', checkAtSeconds);
    firingAtCheck = (await p.alerts()).filter((a) => a.state === 'firing');
    const range = `${Math.ceil(checkAtSeconds - startSeconds)}s`;
    const selections: Selection[] = [
      { label: 'All', vars: { namespace: '.*', job: '.*', node: '.*', __rate_interval: RATE_INTERVAL, __range: range } },
      { label: 'one job', vars: { namespace: SIM_NAMESPACE, job: 'gpt3', node: '(gpu-node-0|gpu-node-1)', __rate_interval: RATE_INTERVAL, __range: range } },
    ];
    for (const sel of selections) {
      for (const q of panelQueries) {
        const expr = substitute(q.expr, sel.vars);
        const key = `${sel.label} | ${q.panel} | ${q.expr}`;
        instant.set(key, { expr, series: await p.query(expr, checkAtSeconds).catch((e: unknown) => e as Error) });
        ranged.set(key, { expr, series: await p.queryRange(expr, startSeconds, checkAtSeconds, SCRAPE_SECONDS).catch((e: unknown) => e as Error) });
      }
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const text = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(text);
      if (m === null) {
        variableValues.set(v.name, new Error(`unsupported variable query ${text}`));
        continue;
      }
      const match = substitute(m[1]!, { namespace: '.*' });
      variableValues.set(v.name, await p.labelValues(m[2]!, match).catch((e: unknown) => e as Error));
    }
    for (const g of await p.ruleGroups()) {
      for (const r of g.rules) {
        ruleNames.add(r.name);
        if (r.health !== 'ok') ruleProblems.push(`${r.name}: ${r.health} ${r.lastError ?? ''}`);
      }
    }

    // Once the run has ended, its endpoints are gone: the down alerts must fire.
    await simulation.catch(() => undefined);
    const deadline = Date.now() + 20_000;
    for (;;) {
      firingAfterStop = (await p.alerts()).filter((a) => a.state === 'firing');
      const names = new Set(firingAfterStop.map((a) => a.labels['alertname']));
      const agentsDown = firingAfterStop.filter((a) => a.labels['alertname'] === 'PerseusAgentDown').length;
      if ((names.has('PerseusControllerDown') && agentsDown === NODES) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  after(async () => {
    await prom?.stop();
    // A failed check must not leave the simulation running into the next suite.
    await simulation?.catch(() => undefined);
  });

  it('the simulation completes its job with the straggler, and fails the doomed job on its deadline', () => {
    assert.equal(simError, undefined, `the simulation failed: ${String(simError)}`);
    const job = result?.jobs[0];
    assert.equal(job?.status?.phase, 'Succeeded');
    assert.ok(job.generations.some((g) => g.stragglers.includes(STRAGGLER_PIPELINE)), `generations: ${JSON.stringify(job.generations)}`);
    const doomed = result?.jobs[1];
    assert.equal(doomed?.status?.phase, 'Failed');
    assert.equal(doomed.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
  });

  it('scrapes the controller and every agent, each at least twice, before the checks', () => {
    const byJob = new Map<string, number[]>();
    for (const s of upScrapes) byJob.set(s.metric['job'] ?? '', [...(byJob.get(s.metric['job'] ?? '') ?? []), Number(s.value?.[1])]);
    assert.equal(byJob.get('perseus-controller')?.length, 1, `up series: ${JSON.stringify(upScrapes)}`);
    assert.equal(byJob.get('perseus-agent')?.length, NODES, `up series: ${JSON.stringify(upScrapes)}`);
    for (const s of upScrapes) assert.ok(Number(s.value?.[1]) >= 2, `${s.metric['instance']}: ${s.value?.[1]} successful scrapes`);
  });

  it('loads every alert rule of the chart, all healthy', () => {
    const expected = chartRules.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
    assert.deepEqual([...ruleNames].sort(), expected);
    assert.deepEqual(ruleProblems, []);
  });

  it('every dashboard query returns data at the end of the straggler period (All and one job selected)', () => {
    assert.ok(panelQueries.length >= 15, `${panelQueries.length} queries`);
    const empty: string[] = [];
    for (const [key, r] of instant) {
      if (r.series instanceof Error) empty.push(`${key}: ${r.series.message}`);
      else if (r.series.length === 0) empty.push(`${key}: no series (${r.expr})`);
    }
    assert.deepEqual(empty, []);
  });

  it('every dashboard query has a finite value at some point of the run', () => {
    const missing: string[] = [];
    for (const [key, r] of ranged) {
      if (r.series instanceof Error) missing.push(`${key}: ${r.series.message}`);
      // A rate() of the planner's solves has an increase only when a solve fell between two scrapes; the
      // first plan is often solved before the first scrape. Those queries must still return series (above).
      else if (!r.series.some(hasFinite) && !/perseus_planner_(solve_duration_seconds|frontier_points)/.test(r.expr)) missing.push(`${key}: no finite sample (${r.expr})`);
    }
    assert.deepEqual(missing, []);
  });

  it('per-job panels see the job, both pipelines and both nodes', () => {
    const series = (panel: string): PromSeries[] => {
      const hit = [...instant.entries()].find(([k]) => k.startsWith(`one job | ${panel} |`));
      assert.ok(hit !== undefined && !(hit[1].series instanceof Error), panel);
      return hit[1].series as PromSeries[];
    };
    const power = series('GPU power per job');
    assert.deepEqual(power.map((s) => `${s.metric['namespace']}/${s.metric['ptj']}`), [`${SIM_NAMESPACE}/gpt3`]);
    assert.ok(Number(power[0]?.value?.[1]) > 16 * 83, `16 GPUs draw more than their blocking power: ${power[0]?.value?.[1]} W`);
    const ranks = new Set(series('Iteration time per rank').map((s) => s.metric['rank']));
    assert.equal(ranks.size, 16, `ranks: ${[...ranks].join(', ')}`);
    const nodes = new Set(series('GPU power by node').map((s) => s.metric['Hostname']));
    assert.deepEqual([...nodes].sort(), ['gpu-node-0', 'gpu-node-1']);
    const savings = series('Expected energy savings');
    assert.ok(Number(savings[0]?.value?.[1]) > 0.05, `savings ${savings[0]?.value?.[1]}`);
  });

  it('the dashboard variables list the job, its namespace and the nodes', () => {
    assert.deepEqual(variableValues.get('namespace'), [SIM_NAMESPACE]);
    assert.deepEqual(variableValues.get('job'), ['gpt3']);
    assert.deepEqual(variableValues.get('node'), ['gpu-node-0', 'gpu-node-1']);
  });

  it(`fires PerseusStragglerPersisting for the straggling pipeline's GPUs only (for: 0s in the test copy)`, () => {
    assert.ok(overridden.includes('PerseusStragglerPersisting'));
    const alerts = firingWhileUp.get('PerseusStragglerPersisting') ?? [];
    assert.ok(alerts.length > 0, `firing: ${[...firingWhileUp.keys()].join(', ')}`);
    for (const a of alerts) {
      assert.equal(a.labels['namespace'], SIM_NAMESPACE);
      assert.match(a.labels['pod'] ?? '', new RegExp(`^gpt3-p${STRAGGLER_PIPELINE}-s[0-7]$`));
      assert.equal(a.labels['severity'], 'warning');
    }
    // Pipeline 1's eight stages, all of them.
    assert.equal(new Set(alerts.map((a) => a.labels['pod'])).size, 8);
  });

  it('fires PerseusJobStragglerPersisting for the job (4 s window instead of 30 minutes in the test copy)', () => {
    const alerts = firingWhileUp.get('PerseusJobStragglerPersisting') ?? [];
    assert.ok(alerts.length > 0, `firing: ${[...firingWhileUp.keys()].join(', ')}`);
    assert.deepEqual([...new Set(alerts.map((a) => `${a.labels['namespace']}/${a.labels['name']}`))], [`${SIM_NAMESPACE}/gpt3`]);
    assert.equal(Number(alerts[0]?.value), 1, 'one pipeline straggles');
  });

  it('fires PerseusJobFailed, as shipped, for the job that failed', () => {
    assert.ok(!overridden.includes('PerseusJobFailed'));
    const alerts = firingWhileUp.get('PerseusJobFailed') ?? [];
    assert.ok(alerts.length > 0, `firing: ${[...firingWhileUp.keys()].join(', ')}`);
    assert.equal(alerts[0]?.labels['phase'], 'Failed');
    // delta() extrapolates to the window's edges: one more failed job reads as about 1 to 3.
    assert.ok(Number(alerts[0]?.value) >= 0.5, `value ${alerts[0]?.value}`);
  });

  it('raises no down alert while every target answers', () => {
    const names = firingAtCheck.map((a) => a.labels['alertname']);
    assert.ok(!names.includes('PerseusAgentDown') && !names.includes('PerseusControllerDown'), `firing: ${names.join(', ')}`);
  });

  it('fires PerseusAgentDown for each agent and PerseusControllerDown once the run has ended (for: 0s in the test copy)', () => {
    const down = firingAfterStop.filter((a) => a.labels['alertname'] === 'PerseusAgentDown');
    assert.equal(down.length, NODES, `firing: ${firingAfterStop.map((a) => `${a.labels['alertname']} ${a.labels['instance'] ?? ''}`).join(', ')}`);
    assert.ok(firingAfterStop.some((a) => a.labels['alertname'] === 'PerseusControllerDown'));
    assert.equal(down[0]?.labels['severity'], 'critical');
  });
});
