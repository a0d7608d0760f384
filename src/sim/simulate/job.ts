// Jobs for `perseus simulate`: the bundled GPT-3 example adapted to the simulated cluster, or the user's
// PerseusTrainingJob manifests; and the bundled GPU profiles.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Bundled measured profiles by GPU name. */
export const BUNDLED_GPUS: Readonly<Record<string, { readonly csv: string; readonly name: string }>> = {
  a100: { csv: join(ROOT, 'data/perseus-profiles/stage_profile/gpt3-175b+a100_sxm_bf16.csv'), name: 'NVIDIA A100-SXM4-80GB (simulated)' },
  a40: { csv: join(ROOT, 'data/perseus-profiles/stage_profile/gpt3-175b+a40_bf16.csv'), name: 'NVIDIA A40 (simulated)' },
};

export const DEFAULT_JOB_FILE = join(ROOT, 'examples/gpt3-8stage.yaml');
export const SIM_NAMESPACE = 'perseus-sim';

export type JobManifest = Record<string, unknown> & { metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };

export interface DefaultJobOptions {
  readonly pipelines: number;
  readonly microbatches?: number;
  readonly iterations: number;
  readonly namespace?: string;
}

/**
 * The bundled GPT-3 example (8 stages, 1F1B, A100) sized for a simulation: `pipelines` data-parallel
 * pipelines, a shorter profiling sweep (1 warm-up + 2 measured iterations per clock), a short
 * straggler window, and the worker's iteration count in its container env.
 */
export function defaultJob(o: DefaultJobOptions): JobManifest {
  const base = yaml.load(readFileSync(DEFAULT_JOB_FILE, 'utf8')) as JobManifest;
  const spec = structuredClone(base.spec) as Record<string, Record<string, unknown>>;
  spec['topology'] = { ...spec['topology'], dataParallel: o.pipelines, ...(o.microbatches === undefined ? {} : { microbatches: o.microbatches }) };
  // Simulated time runs up to the time scale faster than the wall clock, the planner's solves do not: a
  // sketch that takes 10 s of wall time is over half an hour of simulated profiling at 200×.
  spec['profiling'] = { ...spec['profiling'], warmupIterations: 1, iterationsPerClock: 2, timeoutSeconds: 86_400 };
  spec['straggler'] = { enabled: true, threshold: 0.05, window: 4, cooldownSeconds: 10 };
  spec['runPolicy'] = { backoffLimit: 2 };
  const template = spec['template'] as { metadata?: Record<string, unknown>; spec: { containers: Array<Record<string, unknown>> } };
  template.spec.containers = template.spec.containers.map((c, i) =>
    i === 0 ? { ...c, env: [...((c['env'] as unknown[] | undefined) ?? []), { name: 'SIM_ITERATIONS', value: String(o.iterations) }] } : c,
  );
  return { ...base, metadata: { name: 'gpt3', namespace: o.namespace ?? SIM_NAMESPACE }, spec };
}

/** The PerseusTrainingJobs of YAML files (multi-document), namespaced to `namespace` when they name none. */
export function loadJobs(files: readonly string[], namespace: string): JobManifest[] {
  const jobs: JobManifest[] = [];
  for (const file of files) {
    for (const doc of yaml.loadAll(readFileSync(file, 'utf8'))) {
      const d = doc as JobManifest | null;
      if (d === null || d.kind !== 'PerseusTrainingJob') continue;
      jobs.push({ ...d, metadata: { ...d.metadata, namespace: d.metadata.namespace ?? namespace } });
    }
  }
  if (jobs.length === 0) throw new Error(`no PerseusTrainingJob in ${files.join(', ')}`);
  return jobs;
}
