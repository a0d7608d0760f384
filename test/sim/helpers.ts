// Shared fixtures of the API server conformance suite: a server per suite and clients for it.
import * as k8s from '@kubernetes/client-node';
import type { ApiServer, ApiServerOptions } from '../../src/sim/apiserver/index.ts';
import { kubeRequest, startTestServer, type ServerKind, type TestServer } from '../support/servers.ts';
import { readFileSync } from 'node:fs';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { BUNDLED_GPUS, defaultJob } from '../../src/sim/simulate/job.ts';
import type { SimulationOptions } from '../../src/sim/simulate/simulation.ts';

export interface Harness {
  server: TestServer;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  ext: k8s.ApiextensionsV1Api;
  coordination: k8s.CoordinationV1Api;
  events: k8s.EventsV1Api;
  objects: k8s.KubernetesObjectApi;
}

/** Starts (or, for the real server, connects to) a server and returns clients configured from its kubeconfig. */
export async function startHarness(kind: ServerKind, options: ApiServerOptions = {}): Promise<Harness> {
  const server = await startTestServer(kind, options);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  return {
    server,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    ext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** The parsed Status of a failed client-node call (ApiException.body is a string). */
export async function statusOf(promise: Promise<unknown>): Promise<{ code: number; reason: string; message: string; details?: { causes?: { reason: string; field?: string; message: string }[]; name?: string; kind?: string } }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof k8s.ApiException) {
      try {
        return JSON.parse(err.body as string) as { code: number; reason: string; message: string };
      } catch {
        // kube-apiserver answers a path it does not serve with plain text ("404 page not found")
        return { code: err.code, reason: '', message: String(err.body) };
      }
    }
    throw err;
  }
  throw new Error('expected the request to fail');
}

/** Request options that make a client-node patch call send the given patch type. */
export function patchAs(type: k8s.PatchStrategy): k8s.ConfigurationOptions {
  return k8s.setHeaderOptions('Content-Type', type);
}

/** Resolves when `predicate` holds for a value produced by repeatedly awaiting `read` after events. */
export function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A small namespaced CRD with a status subresource, schema constraints and CEL rules. */
export const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.perseus.energy' },
  spec: {
    group: 'test.perseus.energy',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wdg'], categories: ['all'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Stages', type: 'integer', jsonPath: '.spec.stages' },
          { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'Widget is a test resource.',
            properties: {
              spec: {
                type: 'object',
                description: 'Desired state of the widget.',
                required: ['stages'],
                'x-kubernetes-validations': [
                  { rule: 'self.minStages <= self.stages', message: 'minStages must not exceed stages' },
                  { rule: 'self.mode == oldSelf.mode', message: 'mode is immutable' },
                ],
                properties: {
                  stages: { type: 'integer', minimum: 1, maximum: 64, description: 'Number of pipeline stages.' },
                  minStages: { type: 'integer', default: 1 },
                  mode: { type: 'string', enum: ['Fast', 'Slow'], default: 'Fast' },
                  name: { type: 'string', minLength: 2, maxLength: 8, pattern: '^[a-z]+$' },
                  tags: { type: 'array', items: { type: 'string' }, maxItems: 3, minItems: 1, 'x-kubernetes-list-type': 'set' },
                  ports: {
                    type: 'array',
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['name'],
                    items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, port: { type: 'integer' } } },
                  },
                  size: { 'x-kubernetes-int-or-string': true },
                  template: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                  labels: { type: 'object', additionalProperties: { type: 'string' } },
                },
              },
              status: {
                type: 'object',
                properties: {
                  phase: { type: 'string' },
                  observedGeneration: { type: 'integer' },
                  conditions: {
                    type: 'array',
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['type'],
                    items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, status: { type: 'string' }, reason: { type: 'string' }, message: { type: 'string' }, lastTransitionTime: { type: 'string', format: 'date-time' } } },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

/** A cluster-scoped CRD without subresources. */
export const gadgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.test.perseus.energy' },
  spec: {
    group: 'test.perseus.energy',
    scope: 'Cluster',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
  },
};

/**
 * Watches `path` (a collection URL) for the object `name` from its current state and resolves with the
 * first event for which `predicate` holds; `DELETED` of an absent object resolves at once.
 */
export async function waitForObject(kc: k8s.KubeConfig, path: string, name: string, predicate: (type: string, obj: k8s.KubernetesObject | undefined) => boolean): Promise<void> {
  const done = deferred<void>();
  const req = await new k8s.Watch(kc).watch(
    path,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, obj: k8s.KubernetesObject) => {
      if (predicate(type, obj)) done.resolve();
    },
    (err: unknown) => (err === null || err === undefined ? done.reject(new Error(`watch of ${path} ended`)) : done.reject(err)),
  );
  // Without a resourceVersion the watch starts with ADDED for the current object; absence means gone.
  const list = await fetchJson(kc, `${path}?fieldSelector=metadata.name%3D${encodeURIComponent(name)}`);
  if (Array.isArray(list['items']) && list['items'].length === 0 && predicate('DELETED', undefined)) done.resolve();
  try {
    await done.promise;
  } finally {
    req.abort();
  }
}

/** GETs a JSON document from the server the kubeconfig points at. */
export async function fetchJson(kc: k8s.KubeConfig, path: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  return (await kubeRequest(kc, 'GET', path, undefined, headers)).body;
}

/**
 * POSTs a raw JSON object. CRD fixtures go through this: client-node's typed serializer expects
 * camelCase model names (`xKubernetesValidations`, `_enum`) and silently drops the wire names.
 */
export async function postJson(kc: k8s.KubeConfig, path: string, body: unknown): Promise<Record<string, unknown>> {
  const name = (body as { metadata?: { name?: string } }).metadata?.name;
  if (path.endsWith('/customresourcedefinitions') && name) await crdNotTerminating(kc, name);
  const res = await kubeRequest(kc, 'POST', path, body);
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${res.text}`);
  return res.body;
}

/**
 * Waits (bounded) until the CRD `name` is absent or not being deleted. kube-apiserver first deletes a
 * deleted CRD's objects, so one an earlier suite removed may still be terminating; a user re-creating it
 * waits the same way.
 */
export async function crdNotTerminating(kc: k8s.KubeConfig, name: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const res = await kubeRequest(kc, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    const deleting = res.status === 200 && (res.body['metadata'] as { deletionTimestamp?: string } | undefined)?.deletionTimestamp !== undefined;
    if (!deleting) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} still terminating after 90 s: ${JSON.stringify(res.body['status'])}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The embedded server behind a harness, for tests that inject faults or restart it (embedded only). */
export function embedded(h: Harness): ApiServer {
  if (!h.server.embedded) throw new Error('this test needs the embedded API server (fault injection, restart)');
  return h.server.embedded;
}

/**
 * Creates a namespace. On the real server, pods are admitted only once the controller manager made the
 * namespace's `default` ServiceAccount, so it waits for that (a real cluster behaves the same way).
 */
export async function createNamespace(h: Harness, name: string): Promise<void> {
  await h.core.createNamespace({ body: { metadata: { name } } });
  if (h.server.kind !== 'kube-apiserver') return;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await h.core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`namespace ${name}: no default ServiceAccount after 30 s`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Objects a real cluster's controller manager puts into every namespace; suites ignore them. */
export const CLUSTER_MADE = new Set(['kube-root-ca.crt']);

/**
 * Options of a short simulation of the bundled GPT-3 job (2 pipelines) on 2 nodes × 8 simulated A100s,
 * the attach suites' common base; `extra` overrides any of them.
 */
export function a100SimulationOptions(iterations: number, extra: Partial<SimulationOptions> & { readonly namespace?: string } = {}): SimulationOptions {
  const { namespace, ...rest } = extra;
  return {
    jobs: [defaultJob({ pipelines: 2, iterations, ...(namespace === undefined ? {} : { namespace }) })],
    nodes: 2,
    gpusPerNode: 8,
    gpuName: 'A100',
    profile: unwrap(parseStageProfileCsv(readFileSync(BUNDLED_GPUS['a100']!.csv, 'utf8'))),
    blockingPowerWatts: 83.64,
    timeScale: 200,
    iterations,
    timeoutMs: 240_000,
    ...rest,
  };
}
