// Child objects of a job with deterministic names (creates are idempotent): worker and profiling pods with
// what DESIGN §5 injects, the headless service, PerseusRanks and the <job>-perseus ConfigMap.
import { createHash } from 'node:crypto';
import {
  AGENT_SOCKET,
  AGENT_SOCKET_HOST_DIR,
  API_VERSION,
  configMapName,
  JOB_NAMES,
  LABELS,
  podName,
  RANK_NAMES,
  rankName,
  serviceName,
  TOKEN_ANNOTATION,
  TOKEN_DIR,
  TOKEN_FILE,
  WORKER_ENV,
  type PodRole,
  type PerseusTrainingJob,
  type RankSpec,
  type ValidatedJobSpec,
} from '../api/index.ts';
import type { KubeObject } from '../kube/client.ts';

/** Port of the torch rendezvous on the first pod (MASTER_PORT). */
export const MASTER_PORT = 29500;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function ownerReference(job: PerseusTrainingJob): NonNullable<KubeObject['metadata']['ownerReferences']>[number] {
  return { apiVersion: API_VERSION, kind: JOB_NAMES.kind, name: job.metadata.name, uid: job.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** Recommended label naming the tool that manages an object; informational, so another tool's value wins. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'perseus-operator';

function childMeta(job: PerseusTrainingJob, name: string, labels: Record<string, string>): KubeObject['metadata'] {
  return {
    name,
    namespace: job.metadata.namespace ?? 'default',
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [LABELS.job]: job.metadata.name, ...labels },
    ownerReferences: [ownerReference(job)],
  };
}

type Json = Record<string, unknown>;

/** A worker (or profiling) pod of (pipeline, stage) carrying `token` for its rank. */
export function buildPod(job: PerseusTrainingJob, spec: ValidatedJobSpec, role: PodRole, pipeline: number, stage: number, token: string): KubeObject {
  const name = podName(job.metadata.name, role, pipeline, stage);
  const { stages, dataParallel, tensorParallel } = spec.topology;
  const pipelines = role === 'worker' ? dataParallel : 1;
  const first = podName(job.metadata.name, role, 0, 0);
  const svc = serviceName(job.metadata.name);
  const template = spec.template as unknown as { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Json };
  const podSpec = structuredClone(template.spec) as Json & { containers: Json[]; volumes?: Json[] };
  const env = [
    { name: WORKER_ENV.agentSocket, value: AGENT_SOCKET },
    { name: WORKER_ENV.tokenFile, value: TOKEN_FILE },
    { name: WORKER_ENV.job, value: job.metadata.name },
    { name: WORKER_ENV.rank, value: rankName(job.metadata.name, pipeline, stage) },
    { name: WORKER_ENV.pipeline, value: String(pipeline) },
    { name: WORKER_ENV.stage, value: String(stage) },
    { name: WORKER_ENV.role, value: role },
    { name: WORKER_ENV.tensorParallel, value: String(tensorParallel) },
    { name: 'MASTER_ADDR', value: `${first}.${svc}` },
    { name: 'MASTER_PORT', value: String(MASTER_PORT) },
    { name: 'WORLD_SIZE', value: String(pipelines * stages) },
    { name: 'RANK', value: String(pipeline * stages + stage) },
  ];
  const injected = new Set(env.map((e) => e.name));
  const mounts = [
    { name: 'perseus-agent', mountPath: AGENT_SOCKET_HOST_DIR },
    { name: 'perseus-token', mountPath: TOKEN_DIR, readOnly: true },
  ];
  podSpec.containers = podSpec.containers.map((c, i) => {
    const container = { ...c };
    container['env'] = [...((c['env'] as Json[] | undefined) ?? []).filter((e) => !injected.has(e['name'] as string)), ...env];
    container['volumeMounts'] = [...((c['volumeMounts'] as Json[] | undefined) ?? []).filter((m) => !String(m['name']).startsWith('perseus-')), ...mounts];
    if (i === 0) {
      const resources = { ...((c['resources'] as Json | undefined) ?? {}) };
      const resourceName = spec.gpu.resourceName;
      const limits = { ...((resources['limits'] as Json | undefined) ?? {}) };
      limits[resourceName] ??= tensorParallel;
      resources['limits'] = limits;
      container['resources'] = resources;
    }
    return container;
  });
  podSpec.volumes = [
    ...(podSpec.volumes ?? []).filter((v) => !String(v['name']).startsWith('perseus-')),
    { name: 'perseus-agent', hostPath: { path: AGENT_SOCKET_HOST_DIR, type: 'DirectoryOrCreate' } },
    {
      name: 'perseus-token',
      projected: {
        defaultMode: 0o440,
        sources: [{ downwardAPI: { items: [{ path: 'token', fieldRef: { fieldPath: `metadata.annotations['${TOKEN_ANNOTATION}']` } }] } }],
      },
    },
  ];
  podSpec['restartPolicy'] ??= 'Never';
  podSpec['hostname'] = name;
  podSpec['subdomain'] = svc;
  const meta = childMeta(job, name, {
    ...(template.metadata?.labels ?? {}),
    [LABELS.role]: role,
    [LABELS.pipeline]: String(pipeline),
    [LABELS.stage]: String(stage),
    [LABELS.restartAttempt]: String(job.status?.restarts ?? 0),
  });
  meta.annotations = { ...(template.metadata?.annotations ?? {}), [TOKEN_ANNOTATION]: token };
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: podSpec };
}

/** The headless service that gives every pod a stable DNS name for the torch rendezvous. */
export function buildService(job: PerseusTrainingJob): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(job, serviceName(job.metadata.name), {}),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { [LABELS.job]: job.metadata.name },
      ports: [{ name: 'rendezvous', port: MASTER_PORT, targetPort: MASTER_PORT }],
    },
  };
}

export function buildRank(job: PerseusTrainingJob, name: string, spec: RankSpec, node: string | undefined): KubeObject {
  const labels: Record<string, string> = { [LABELS.pipeline]: String(spec.pipeline), [LABELS.stage]: String(spec.stage) };
  if (node !== undefined) labels[LABELS.node] = node;
  return { apiVersion: API_VERSION, kind: RANK_NAMES.kind, metadata: childMeta(job, name, labels), spec: spec as unknown as Json };
}

export function buildConfigMap(job: PerseusTrainingJob, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: childMeta(job, configMapName(job.metadata.name), {}), data };
}
