// Alert rules (promtool), the Grafana dashboard, and the metric names both use: each must exist in the code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { ROOT } from '../../scripts/gen-manifests.ts';
import { CHART, get, MONITORING_API, one, render } from './helm.ts';

const run = promisify(execFile);
const RULES_FILE = join(CHART, 'files', 'perseus-alerts.yaml');
const DASHBOARD_FILE = join(CHART, 'files', 'perseus-dashboard.json');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroups {
  groups: { name: string; rules: Rule[] }[];
}

async function promtool(): Promise<string | undefined> {
  try {
    await run('promtool', ['--version']);
    return 'promtool';
  } catch {
    return undefined;
  }
}

async function sourcesText(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) parts.push(await readFile(join(entry.parentPath, entry.name), 'utf8'));
  }
  return parts.join('\n');
}

/** perseus_* names in a text; histogram series map to their metric (…_bucket/_sum/_count → …). */
function metricNames(text: string): Set<string> {
  return new Set([...text.matchAll(/\bperseus_[a-z0-9_]+/g)].map((m) => m[0]));
}

describe('Monitoring', function () {
  this.timeout(60_000);

  describe('alert rules', function () {
    it('the PrometheusRule carries exactly the plain rules file', async function () {
      const rule = one(await render(MONITORING_API), 'PrometheusRule');
      const file = yaml.load(await readFile(RULES_FILE, 'utf8')) as RuleGroups;
      assert.deepEqual(get(rule, 'spec'), file);
      assert.ok(file.groups.length >= 2);
    });

    it('promtool test rules: PerseusAgentPriorityNotApplied fires only for an agent above its configured nice value', async function () {
      const tool = await promtool();
      if (tool === undefined) {
        if (this.test !== undefined) this.test.title += ' (skipped: promtool is not on PATH; apt-get install prometheus)';
        this.skip();
      }
      const dir = await mkdtemp(join(tmpdir(), 'perseus-rules-test-'));
      try {
        const tests = {
          rule_files: [RULES_FILE],
          evaluation_interval: '1m',
          tests: [
            {
              interval: '1m',
              input_series: [
                // gpu-a lacks CAP_SYS_NICE (0 in effect, -10 asked); gpu-b got it; gpu-c asked for 0.
                { series: 'perseus_agent_event_loop_nice{job="perseus-agent",instance="gpu-a:9400"}', values: '0x20' },
                { series: 'perseus_agent_event_loop_nice_requested{job="perseus-agent",instance="gpu-a:9400"}', values: '-10x20' },
                { series: 'perseus_agent_event_loop_nice{job="perseus-agent",instance="gpu-b:9400"}', values: '-10x20' },
                { series: 'perseus_agent_event_loop_nice_requested{job="perseus-agent",instance="gpu-b:9400"}', values: '-10x20' },
                { series: 'perseus_agent_event_loop_nice{job="perseus-agent",instance="gpu-c:9400"}', values: '0x20' },
                { series: 'perseus_agent_event_loop_nice_requested{job="perseus-agent",instance="gpu-c:9400"}', values: '0x20' },
              ],
              alert_rule_test: [
                { eval_time: '5m', alertname: 'PerseusAgentPriorityNotApplied', exp_alerts: [] },
                {
                  eval_time: '15m',
                  alertname: 'PerseusAgentPriorityNotApplied',
                  exp_alerts: [
                    {
                      exp_labels: { severity: 'warning', job: 'perseus-agent', instance: 'gpu-a:9400' },
                      exp_annotations: {
                        summary: 'Perseus node agent runs at a lower priority than configured.',
                        description:
                          'The node agent at gpu-a:9400 runs its clock-setting thread at nice 0, above the configured value, for 10 minutes: it lacks CAP_SYS_NICE. Clock changes may then wait 1–5 ms behind other work on the node.',
                        runbook_url: 'https://github.com/perseus-energy/perseus-operator/blob/main/docs/operations.md#perseusagentprioritynotapplied',
                      },
                    },
                  ],
                },
              ],
            },
          ],
        };
        const path = join(dir, 'tests.yaml');
        await writeFile(path, yaml.dump(tests));
        const { stdout } = await run(tool as string, ['test', 'rules', path]);
        assert.match(stdout, /SUCCESS/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('promtool check rules accepts the rendered PrometheusRule', async function () {
      const tool = await promtool();
      if (tool === undefined) {
        // The CI script installs promtool (Debian package `prometheus`); elsewhere this check needs it on PATH.
        if (this.test !== undefined) this.test.title += ' (skipped: promtool is not on PATH; apt-get install prometheus)';
        this.skip();
      }
      const rule = one(await render(MONITORING_API), 'PrometheusRule');
      const dir = await mkdtemp(join(tmpdir(), 'perseus-rules-'));
      try {
        const path = join(dir, 'rules.yaml');
        await writeFile(path, yaml.dump(get(rule, 'spec')));
        const { stdout } = await run(tool as string, ['check', 'rules', path]);
        const count = (get<RuleGroups['groups']>(rule, 'spec', 'groups')).reduce((n, g) => n + g.rules.length, 0);
        assert.match(stdout, new RegExp(`SUCCESS: ${count} rules found`));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('covers the failure modes an operator must hear about, each with severity, summary and a runbook section', async function () {
      const file = yaml.load(await readFile(RULES_FILE, 'utf8')) as RuleGroups;
      const rules = file.groups.flatMap((g) => g.rules);
      const names = rules.map((r) => r.alert);
      for (const required of ['PerseusAgentDown', 'PerseusGpuClockLockedWithoutRank', 'PerseusStragglerPersisting', 'PerseusJobStuckInPhase', 'PerseusJobFailed', 'PerseusControllerDown']) {
        assert.ok(names.includes(required), `alert ${required}`);
      }
      const operations = await readFile(join(ROOT, 'docs', 'operations.md'), 'utf8');
      for (const r of rules) {
        assert.ok(r.alert !== undefined, 'alerting rules only');
        assert.ok(['critical', 'warning', 'info'].includes(r.labels?.['severity'] ?? ''), `${r.alert} severity`);
        assert.ok((r.annotations?.['summary'] ?? '').length > 10, `${r.alert} summary`);
        assert.ok((r.annotations?.['description'] ?? '').length > 20, `${r.alert} description`);
        const anchor = r.alert.toLowerCase();
        assert.ok(r.annotations?.['runbook_url']?.endsWith(`docs/operations.md#${anchor}`), `${r.alert} runbook_url`);
        assert.match(operations, new RegExp(`^#+ ${r.alert}$`, 'm'), `docs/operations.md has a section ${r.alert}`);
      }
    });

    it('matches the scrape jobs the chart names', async function () {
      const text = await readFile(RULES_FILE, 'utf8');
      const jobs = new Set([...text.matchAll(/job="([^"]+)"/g)].map((m) => m[1]));
      assert.deepEqual([...jobs].sort(), ['perseus-agent', 'perseus-controller']);
    });
  });

  describe('Grafana dashboard', function () {
    it('is a ConfigMap with the sidecar label holding the dashboard JSON', async function () {
      const cm = one(await render(), 'ConfigMap');
      assert.equal(cm.metadata.labels?.['grafana_dashboard'], '1');
      const json = get<string>(cm, 'data', 'perseus-operator.json');
      assert.equal(json, (await readFile(DASHBOARD_FILE, 'utf8')).trimEnd());
    });

    it('shows per-job energy, power, planned and actual clocks, savings, stragglers and replans', async function () {
      const dashboard = JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')) as { uid: string; panels: { type: string; title: string; targets?: { expr: string }[] }[]; templating: { list: { name: string }[] } };
      assert.equal(dashboard.uid, 'perseus-operator');
      assert.deepEqual(dashboard.templating.list.map((v) => v.name), ['datasource', 'namespace', 'job', 'node']);
      const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
      for (const metric of [
        'perseus_agent_gpu_energy_joules_total',
        'perseus_agent_gpu_power_watts',
        'perseus_agent_gpu_planned_clock_mhz',
        'perseus_agent_gpu_sm_clock_mhz',
        'perseus_job_expected_savings_ratio',
        'perseus_agent_throttle_events_total',
        'perseus_agent_iteration_seconds',
        'perseus_controller_replans_total',
      ]) {
        assert.ok(exprs.some((e) => e.includes(metric)), `a panel queries ${metric}`);
      }
      for (const p of dashboard.panels.filter((x) => x.type !== 'row')) assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has queries`);
    });
  });

  it('every perseus_* metric in the dashboard and the rules is defined in the code', async function () {
    const code = `${await sourcesText(join(ROOT, 'src', 'controller'))}\n${await sourcesText(join(ROOT, 'src', 'agent'))}`;
    const defined = new Set([...code.matchAll(/name: '(perseus_[a-z0-9_]+)'|\w+\('(perseus_[a-z0-9_]+)'/g)].map((m) => m[1] ?? m[2]));
    assert.ok(defined.has('perseus_controller_reconcile_total') && defined.has('perseus_agent_gpu_power_watts'), 'the definitions are found');
    const used = new Set([...metricNames(await readFile(RULES_FILE, 'utf8')), ...metricNames(await readFile(DASHBOARD_FILE, 'utf8'))]);
    assert.ok(used.size >= 10);
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(defined.has(name) || (base !== name && defined.has(base)), `${name} is not a metric of src/controller or src/agent`);
    }
  });
});
