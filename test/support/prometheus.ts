// A real Prometheus server for tests: Debian's `prometheus` binary on a loopback port with its own storage
// directory and a generated configuration, plus the few HTTP API calls the tests make.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { createServer } from 'node:net';
import { freePort } from './envtest.ts';

/** The prometheus binary on PATH, or undefined (tests then skip and say why). */
export function prometheusBinary(): string | undefined {
  const r = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'prometheus' : undefined;
}


function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    // Every interface: the metrics servers under test listen there.
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive ports that were all free a moment ago. */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`found no ${count} consecutive free ports`);
}

export interface ScrapeJob {
  readonly name: string;
  readonly targets: readonly string[];
  /** https for the authenticated metrics endpoints (default http). */
  readonly scheme?: 'http' | 'https';
  /** Sent as `Authorization: Bearer <token>`. */
  readonly bearerToken?: string;
  readonly insecureSkipVerify?: boolean;
}

export interface PrometheusOptions {
  readonly jobs: readonly ScrapeJob[];
  /** Rule files as parsed YAML documents ({ groups: [...] }). */
  readonly rules?: readonly unknown[];
  readonly scrapeIntervalSeconds?: number;
  readonly evaluationIntervalSeconds?: number;
}

/** One sample of an instant vector, or a range series, as the HTTP API returns it. */
export interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: Array<[number, string]>;
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

export interface PromRuleGroup {
  readonly name: string;
  readonly rules: ReadonlyArray<{ readonly name: string; readonly type: string; readonly health: string; readonly lastError?: string; readonly query: string }>;
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: string[],
  ) {}

  /** Starts Prometheus and resolves once /-/ready answers 200. */
  static async start(o: PrometheusOptions): Promise<PrometheusServer> {
    const dir = await mkdtemp(join(tmpdir(), 'perseus-prometheus-'));
    const ruleFiles: string[] = [];
    for (const [i, rules] of (o.rules ?? []).entries()) {
      const path = join(dir, `rules-${i}.yaml`);
      await writeFile(path, yaml.dump(rules));
      ruleFiles.push(path);
    }
    const config = {
      global: { scrape_interval: `${o.scrapeIntervalSeconds ?? 1}s`, scrape_timeout: `${o.scrapeIntervalSeconds ?? 1}s`, evaluation_interval: `${o.evaluationIntervalSeconds ?? 1}s` },
      rule_files: ruleFiles,
      scrape_configs: o.jobs.map((j) => ({
        job_name: j.name,
        static_configs: [{ targets: j.targets }],
        ...(j.scheme === undefined ? {} : { scheme: j.scheme }),
        ...(j.bearerToken === undefined ? {} : { authorization: { type: 'Bearer', credentials: j.bearerToken } }),
        ...(j.insecureSkipVerify === undefined ? {} : { tls_config: { insecure_skip_verify: j.insecureSkipVerify } }),
      })),
    };
    const configPath = join(dir, 'prometheus.yml');
    await writeFile(configPath, yaml.dump(config));
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [`--config.file=${configPath}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    const keep = (chunk: Buffer): void => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir, output);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) {
        await server.stop();
        throw new Error(`prometheus exited with ${child.exitCode}: ${output.join('')}`);
      }
      try {
        if ((await fetch(`${server.url}/-/ready`)).status === 200) return server;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`prometheus was not ready within 30 s: ${output.join('')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Prometheus's own log lines so far (for failure messages). */
  get log(): string {
    return this.output.join('');
  }

  private async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`${this.url}/api/v1/${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`GET /api/v1/${path} ${JSON.stringify(params)}: ${body.errorType ?? res.status}: ${body.error ?? ''}`);
    return body.data;
  }

  /** /api/v1/query: an instant query at `timeSeconds` (default now); scalars come back as one series. */
  async query(expr: string, timeSeconds?: number): Promise<PromSeries[]> {
    const data = await this.api<{ resultType: string; result: PromSeries[] | [number, string] }>('query', { query: expr, ...(timeSeconds === undefined ? {} : { time: String(timeSeconds) }) });
    if (data.resultType === 'scalar' || data.resultType === 'string') return [{ metric: {}, value: data.result as [number, string] }];
    return data.result as PromSeries[];
  }

  /** /api/v1/query_range. */
  async queryRange(expr: string, startSeconds: number, endSeconds: number, stepSeconds: number): Promise<PromSeries[]> {
    const data = await this.api<{ result: PromSeries[] }>('query_range', { query: expr, start: String(startSeconds), end: String(endSeconds), step: String(stepSeconds) });
    return data.result;
  }

  /** /api/v1/label/<label>/values restricted to `match`. */
  labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`label/${encodeURIComponent(label)}/values`, { 'match[]': match });
  }

  async alerts(): Promise<PromAlert[]> {
    return (await this.api<{ alerts: PromAlert[] }>('alerts')).alerts;
  }

  async ruleGroups(): Promise<PromRuleGroup[]> {
    return (await this.api<{ groups: PromRuleGroup[] }>('rules')).groups;
  }

  /** Stops Prometheus (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
