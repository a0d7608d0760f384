// Runs the real helm binary against the chart and parses what it renders; renders are cached per argument
// list so that each suite pays for one `helm template` per values combination.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { CHART_DIR, NAMESPACE, RELEASE, ROOT } from '../../scripts/gen-manifests.ts';
import { helmPath } from '../support/kube-tools.ts';

const run = promisify(execFile);
/** Prometheus operator API, as `helm template --api-versions` simulates it. */
export const MONITORING_API = ['--api-versions', 'monitoring.coreos.com/v1'] as const;
export const CHART = join(ROOT, CHART_DIR);

// Helm keeps caches and config under HOME by default: give it a private one.
const helmHome = mkdtempSync(join(tmpdir(), 'perseus-helm-'));
const helmEnv = { ...process.env, HELM_CACHE_HOME: join(helmHome, 'cache'), HELM_CONFIG_HOME: join(helmHome, 'config'), HELM_DATA_HOME: join(helmHome, 'data') };

/** A rendered Kubernetes object (only the fields the tests read are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Runs helm with `args`; resolves stdout and stderr, rejects with helm's message on failure. */
export async function helm(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(await helmPath(), [...args], { env: helmEnv, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`, { cause: err });
  }
}

const renders = new Map<string, Promise<string>>();

/** `helm template` of the chart with extra arguments (e.g. `--set x=y`, MONITORING_API), cached. */
export function renderText(extra: readonly string[] = []): Promise<string> {
  const key = extra.join('\0');
  let p = renders.get(key);
  if (p === undefined) {
    p = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...extra]).then((r) => r.stdout);
    renders.set(key, p);
  }
  return p;
}

/** The objects of a render, parsed with js-yaml (empty documents dropped). */
export async function render(extra: readonly string[] = []): Promise<K8sObject[]> {
  return parseObjects(await renderText(extra));
}

export function parseObjects(text: string): K8sObject[] {
  return yaml.loadAll(text).filter((d): d is K8sObject => d !== null && d !== undefined && typeof d === 'object');
}

/** `--set` arguments for a list of `key=value`. */
export function sets(...pairs: string[]): string[] {
  return pairs.flatMap((p) => ['--set', p]);
}

export function ofKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The one object of `kind` (named `name` if given); fails when there is none or several. */
export function one(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0] as K8sObject;
}

/** Reads a nested field by path, e.g. get(o, 'spec', 'template', 'spec'). */
export function get<T = unknown>(value: unknown, ...path: (string | number)[]): T {
  let v: unknown = value;
  for (const key of path) v = v === null || v === undefined ? undefined : (v as Record<string | number, unknown>)[key];
  return v as T;
}

// Every value the chart can switch, off where the default is on and on where it is off.
export const ALL_OFF = sets(
  'agent.enabled=false',
  'controller.leaderElection.enabled=false',
  'controller.serviceAccount.create=false',
  'agent.serviceAccount.create=false',
  'metrics.serviceMonitor.enabled=false',
  'metrics.podMonitor.enabled=false',
  'metrics.prometheusRule.enabled=false',
  'grafana.dashboard.enabled=false',
  'networkPolicy.enabled=false',
);
export const ALL_ON = sets('networkPolicy.enabled=true', 'agent.privileged=true', 'agent.runtimeClassName=nvidia', 'controller.replicas=2', 'agent.nvmlLibrary=/run/nvidia/driver/usr/lib64/libnvidia-ml.so.1');
