// The one place that talks to the Kubernetes API: loads the connection like every client (in-cluster,
// --kubeconfig, KUBECONFIG, ~/.kube/config) and offers generic object operations with explicit patch types.
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  V1MicroTime,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { GROUP, JOB_NAMES, RANK_NAMES, VERSION } from '../api/names.ts';
import { toKubeError } from './errors.ts';

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** A resource type the operator uses. */
export interface ResourceKind {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
}

export const PODS: ResourceKind = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };
export const SERVICES: ResourceKind = { group: '', version: 'v1', plural: 'services', kind: 'Service' };
export const CONFIGMAPS: ResourceKind = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
export const EVENTS: ResourceKind = { group: '', version: 'v1', plural: 'events', kind: 'Event' };
export const LEASES: ResourceKind = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' };
export const JOBS: ResourceKind = { group: GROUP, version: VERSION, plural: JOB_NAMES.plural, kind: JOB_NAMES.kind };
export const RANKS: ResourceKind = { group: GROUP, version: VERSION, plural: RANK_NAMES.plural, kind: RANK_NAMES.kind };

export function apiVersionOf(kind: ResourceKind): string {
  return kind.group === '' ? kind.version : `${kind.group}/${kind.version}`;
}

/** The URL path of a collection (namespace undefined: all namespaces). */
export function collectionPath(kind: ResourceKind, namespace: string | undefined): string {
  const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  return namespace === undefined ? `${base}/${kind.plural}` : `${base}/namespaces/${encodeURIComponent(namespace)}/${kind.plural}`;
}

export interface ListResult {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: KubeObject & { code?: number };
}

/** Object operations every component needs; one implementation per API server connection. */
export interface KubeApi {
  list(kind: ResourceKind, namespace: string | undefined, labelSelector?: string): Promise<ListResult>;
  /** Undefined when absent. */
  get(kind: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined>;
  create(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject>;
  /** JSON merge patch (application/merge-patch+json), on the status subresource when `status`. */
  mergePatch(kind: ResourceKind, namespace: string, name: string, patch: unknown, options?: { status?: boolean }): Promise<KubeObject>;
  /** Full update with optimistic concurrency (metadata.resourceVersion). */
  replace(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject>;
  /** False when it was already gone. */
  delete(kind: ResourceKind, namespace: string, name: string, options?: { propagation?: 'Background' | 'Foreground' | 'Orphan' }): Promise<boolean>;
  /** Starts a watch; `done` is called once when it ends (null: closed normally). */
  watch(
    kind: ResourceKind,
    namespace: string | undefined,
    options: { resourceVersion: string; labelSelector?: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }>;
}

/**
 * Loads the connection: `kubeconfig` (a path) when given, else in-cluster when running in a pod, else
 * KUBECONFIG or ~/.kube/config.
 */
export function loadKubeConfig(kubeconfig?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new Error(`cannot load kubeconfig ${kubeconfig}: ${(err as Error).message}`, { cause: err });
    }
  } else if (env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/** A KubeConfig from kubeconfig YAML text (for example the embedded API server's). */
export function kubeConfigFromYaml(text: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}

/** A KubeConfig for a plain-http server without credentials. */
export function kubeConfigForUrl(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'perseus', server: url, skipTLSVerify: true }],
    users: [{ name: 'perseus' }],
    contexts: [{ name: 'perseus', cluster: 'perseus', user: 'perseus', namespace: 'default' }],
    currentContext: 'perseus',
  });
  return kc;
}

/** Serializes the client's typed objects (Dates…) back to plain JSON. */
function plain<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Lease times must be V1MicroTime (microsecond RFC 3339), which the Lease API requires. */
export function microTime(ms: number): Date {
  return new V1MicroTime(ms);
}

/** The KubeApi on @kubernetes/client-node. */
export class ClientKubeApi implements KubeApi {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly coordination: CoordinationV1Api;
  private readonly watcher: Watch;

  constructor(readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.watcher = new Watch(config);
  }

  private async call<T>(what: string, fn: () => Promise<unknown>): Promise<T> {
    try {
      return plain<T>(await fn());
    } catch (err) {
      throw toKubeError(err, what);
    }
  }

  async list(kind: ResourceKind, namespace: string | undefined, labelSelector?: string): Promise<ListResult> {
    const sel = labelSelector === undefined ? {} : { labelSelector };
    const ns = namespace;
    const result = await this.call<{ items?: KubeObject[]; metadata?: { resourceVersion?: string } }>(`list ${kind.plural}`, () => {
      if (kind.group === GROUP) {
        const base = { group: kind.group, version: kind.version, plural: kind.plural, ...sel };
        return ns === undefined ? this.custom.listClusterCustomObject(base) : this.custom.listNamespacedCustomObject({ ...base, namespace: ns });
      }
      switch (kind.plural) {
        case 'pods':
          return ns === undefined ? this.core.listPodForAllNamespaces(sel) : this.core.listNamespacedPod({ namespace: ns, ...sel });
        case 'services':
          return ns === undefined ? this.core.listServiceForAllNamespaces(sel) : this.core.listNamespacedService({ namespace: ns, ...sel });
        case 'configmaps':
          return ns === undefined ? this.core.listConfigMapForAllNamespaces(sel) : this.core.listNamespacedConfigMap({ namespace: ns, ...sel });
        case 'events':
          return ns === undefined ? this.core.listEventForAllNamespaces(sel) : this.core.listNamespacedEvent({ namespace: ns, ...sel });
        case 'leases':
          return ns === undefined ? this.coordination.listLeaseForAllNamespaces(sel) : this.coordination.listNamespacedLease({ namespace: ns, ...sel });
        default:
          throw new Error(`unsupported resource ${kind.plural}`);
      }
    });
    const items = (result.items ?? []).map((item) => ({ apiVersion: apiVersionOf(kind), kind: kind.kind, ...item }));
    return { items, resourceVersion: result.metadata?.resourceVersion ?? '' };
  }

  async get(kind: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.call<KubeObject>(`get ${kind.plural} ${namespace}/${name}`, () => {
        if (kind.group === GROUP) return this.custom.getNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace, name });
        switch (kind.plural) {
          case 'pods':
            return this.core.readNamespacedPod({ namespace, name });
          case 'services':
            return this.core.readNamespacedService({ namespace, name });
          case 'configmaps':
            return this.core.readNamespacedConfigMap({ namespace, name });
          case 'leases':
            return this.coordination.readNamespacedLease({ namespace, name });
          default:
            throw new Error(`unsupported resource ${kind.plural}`);
        }
      });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  create(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    const body = { apiVersion: apiVersionOf(kind), kind: kind.kind, ...object } as never;
    return this.call(`create ${kind.plural} ${namespace}/${object.metadata.name}`, () => {
      if (kind.group === GROUP) return this.custom.createNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace, body });
      switch (kind.plural) {
        case 'pods':
          return this.core.createNamespacedPod({ namespace, body });
        case 'services':
          return this.core.createNamespacedService({ namespace, body });
        case 'configmaps':
          return this.core.createNamespacedConfigMap({ namespace, body });
        case 'events':
          return this.core.createNamespacedEvent({ namespace, body });
        case 'leases':
          return this.coordination.createNamespacedLease({ namespace, body });
        default:
          throw new Error(`unsupported resource ${kind.plural}`);
      }
    });
  }

  mergePatch(kind: ResourceKind, namespace: string, name: string, patch: unknown, options: { status?: boolean } = {}): Promise<KubeObject> {
    const body = patch as never;
    return this.call(`patch ${kind.plural}${options.status === true ? '/status' : ''} ${namespace}/${name}`, () => {
      if (kind.group === GROUP) {
        const req = { group: kind.group, version: kind.version, plural: kind.plural, namespace, name, body };
        return options.status === true ? this.custom.patchNamespacedCustomObjectStatus(req, mergePatch) : this.custom.patchNamespacedCustomObject(req, mergePatch);
      }
      switch (kind.plural) {
        case 'pods':
          return options.status === true ? this.core.patchNamespacedPodStatus({ namespace, name, body }, mergePatch) : this.core.patchNamespacedPod({ namespace, name, body }, mergePatch);
        case 'services':
          return this.core.patchNamespacedService({ namespace, name, body }, mergePatch);
        case 'configmaps':
          return this.core.patchNamespacedConfigMap({ namespace, name, body }, mergePatch);
        case 'events':
          return this.core.patchNamespacedEvent({ namespace, name, body }, mergePatch);
        default:
          throw new Error(`unsupported resource ${kind.plural}`);
      }
    });
  }

  replace(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    const name = object.metadata.name;
    const body = { apiVersion: apiVersionOf(kind), kind: kind.kind, ...object } as never;
    return this.call(`replace ${kind.plural} ${namespace}/${name}`, () => {
      if (kind.group === GROUP) return this.custom.replaceNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace, name, body });
      if (kind.plural === 'leases') return this.coordination.replaceNamespacedLease({ namespace, name, body });
      throw new Error(`unsupported resource ${kind.plural}`);
    });
  }

  async delete(kind: ResourceKind, namespace: string, name: string, options: { propagation?: 'Background' | 'Foreground' | 'Orphan' } = {}): Promise<boolean> {
    const propagationPolicy = options.propagation ?? 'Background';
    try {
      await this.call(`delete ${kind.plural} ${namespace}/${name}`, () => {
        if (kind.group === GROUP) {
          return this.custom.deleteNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace, name, propagationPolicy });
        }
        switch (kind.plural) {
          case 'pods':
            return this.core.deleteNamespacedPod({ namespace, name, propagationPolicy });
          case 'services':
            return this.core.deleteNamespacedService({ namespace, name, propagationPolicy });
          case 'configmaps':
            return this.core.deleteNamespacedConfigMap({ namespace, name, propagationPolicy });
          case 'leases':
            return this.coordination.deleteNamespacedLease({ namespace, name, propagationPolicy });
          default:
            throw new Error(`unsupported resource ${kind.plural}`);
        }
      });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  }

  async watch(
    kind: ResourceKind,
    namespace: string | undefined,
    options: { resourceVersion: string; labelSelector?: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }> {
    const query: Record<string, string | number | boolean> = {
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: options.timeoutSeconds,
    };
    if (options.labelSelector !== undefined) query['labelSelector'] = options.labelSelector;
    const controller = await this.watcher.watch(
      collectionPath(kind, namespace),
      query,
      (type: string, object: unknown) => onEvent({ type: type as WatchEvent['type'], object: object as WatchEvent['object'] }),
      (err: unknown) => done(err === null || err === undefined ? null : toKubeError(err, `watch ${kind.plural}`)),
    );
    return { abort: () => controller.abort() };
  }
}
