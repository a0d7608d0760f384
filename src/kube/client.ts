// The one place that talks to the Kubernetes API: generic object operations with explicit patch types,
// server-side apply among them, and watches, on a KubeConnection (kubeconfig.ts); objects travel as plain
// JSON, without the Kubernetes client library (tests, the simulator and benchmarks may use it).
import { GROUP, JOB_NAMES, RANK_NAMES, VERSION } from '../api/names.ts';
import { toKubeError } from './errors.ts';
import type { KubeConnection } from './kubeconfig.ts';
import { rawRequest, streamRequest, type RawRequest } from './raw-request.ts';

export { connectionForUrl, connectionFromFile, connectionFromYaml, inClusterConnection, KubeConnection, loadConnection } from './kubeconfig.ts';

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
export const NODES: ResourceKind = { group: '', version: 'v1', plural: 'nodes', kind: 'Node' };
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
  /** With a page limit: the token of the next page; undefined on the last. */
  readonly continue?: string;
}

/** One page of a list: at most `limit` items, from `continue` (a previous page's token) on. */
export interface ListPage {
  readonly limit: number;
  readonly continue?: string;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: KubeObject & { code?: number };
}

/** Object operations every component needs; one implementation per API server connection. */
export interface KubeApi {
  /** Every object, or one page of them with `page` (all pages are one snapshot; an expired token fails with 410). */
  list(kind: ResourceKind, namespace: string | undefined, labelSelector?: string, page?: ListPage): Promise<ListResult>;
  /** Undefined when absent. */
  get(kind: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined>;
  create(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject>;
  /** JSON merge patch (application/merge-patch+json), on the status subresource when `status`. */
  mergePatch(kind: ResourceKind, namespace: string, name: string, patch: unknown, options?: { status?: boolean }): Promise<KubeObject>;
  /**
   * Server-side apply (application/apply-patch+yaml) of the complete configuration this client's field
   * manager wants: it creates the object when absent, and fails with a 409 naming each field another
   * manager owns with a different value unless `force` (which takes those fields over).
   */
  apply(kind: ResourceKind, namespace: string, object: KubeObject, options?: { force?: boolean; status?: boolean }): Promise<KubeObject>;
  /** Full update with optimistic concurrency (metadata.resourceVersion). */
  replace(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject>;
  /** False when it was already gone. `gracePeriodSeconds` 0 removes a pod without waiting for its kubelet. */
  delete(kind: ResourceKind, namespace: string, name: string, options?: { propagation?: 'Background' | 'Foreground' | 'Orphan'; gracePeriodSeconds?: number }): Promise<boolean>;
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
 * Lease times as MicroTime: RFC 3339 in UTC with exactly six fractional digits
 * (2026-12-02T18:00:00.123000Z), the form the Lease API requires. `toISOString()` gives that string, so
 * callers written for the client library's V1MicroTime keep working.
 */
export function microTime(ms: number): { toISOString(): string } {
  const text = new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return { toISOString: () => text };
}

/** The field manager of the controller's writes (server-side apply and the other writes' managedFields). */
export const FIELD_MANAGER = 'perseus-operator';

/** The URL path of one object (or its status subresource). */
export function objectPath(kind: ResourceKind, namespace: string, name: string, status = false): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}${status ? '/status' : ''}`;
}

/**
 * The KubeApi on a connection. Objects travel as plain JSON (rawRequest), never through the client
 * library's typed models, so no field of a newer Kubernetes release is dropped on the way.
 */
export class ClientKubeApi implements KubeApi {
  readonly fieldManager: string;

  constructor(
    readonly connection: KubeConnection,
    options: { fieldManager?: string } = {},
  ) {
    this.fieldManager = options.fieldManager ?? FIELD_MANAGER;
  }

  private async call<T>(what: string, req: RawRequest): Promise<T> {
    try {
      return (await rawRequest(this.connection, req)) as T;
    } catch (err) {
      throw toKubeError(err, what);
    }
  }

  async list(kind: ResourceKind, namespace: string | undefined, labelSelector?: string, page?: ListPage): Promise<ListResult> {
    const result = await this.call<{ items?: KubeObject[] | null; metadata?: { resourceVersion?: string; continue?: string } }>(`list ${kind.plural}`, {
      method: 'GET',
      path: collectionPath(kind, namespace),
      query: { labelSelector, limit: page?.limit, continue: page?.continue === '' ? undefined : page?.continue },
    });
    const items = (result.items ?? []).map((item) => ({ apiVersion: apiVersionOf(kind), kind: kind.kind, ...item }));
    const next = result.metadata?.continue;
    return { items, resourceVersion: result.metadata?.resourceVersion ?? '', ...(next === undefined || next === '' ? {} : { continue: next }) };
  }

  async get(kind: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.call<KubeObject>(`get ${kind.plural} ${namespace}/${name}`, { method: 'GET', path: objectPath(kind, namespace, name) });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  create(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    return this.call(`create ${kind.plural} ${namespace}/${object.metadata.name}`, {
      method: 'POST',
      path: collectionPath(kind, namespace),
      query: { fieldManager: this.fieldManager },
      body: { apiVersion: apiVersionOf(kind), kind: kind.kind, ...object },
    });
  }

  mergePatch(kind: ResourceKind, namespace: string, name: string, patch: unknown, options: { status?: boolean } = {}): Promise<KubeObject> {
    return this.call(`patch ${kind.plural}${options.status === true ? '/status' : ''} ${namespace}/${name}`, {
      method: 'PATCH',
      path: objectPath(kind, namespace, name, options.status === true),
      query: { fieldManager: this.fieldManager },
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  apply(kind: ResourceKind, namespace: string, object: KubeObject, options: { force?: boolean; status?: boolean } = {}): Promise<KubeObject> {
    const name = object.metadata.name;
    return this.call(`apply ${kind.plural}${options.status === true ? '/status' : ''} ${namespace}/${name}`, {
      method: 'PATCH',
      path: objectPath(kind, namespace, name, options.status === true),
      query: { fieldManager: this.fieldManager, force: options.force === true ? true : undefined },
      // JSON is YAML: the applied configuration goes out as built.
      body: { apiVersion: apiVersionOf(kind), kind: kind.kind, ...object },
      contentType: 'application/apply-patch+yaml',
    });
  }

  replace(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    const name = object.metadata.name;
    return this.call(`replace ${kind.plural} ${namespace}/${name}`, {
      method: 'PUT',
      path: objectPath(kind, namespace, name),
      query: { fieldManager: this.fieldManager },
      body: { apiVersion: apiVersionOf(kind), kind: kind.kind, ...object },
    });
  }

  async delete(kind: ResourceKind, namespace: string, name: string, options: { propagation?: 'Background' | 'Foreground' | 'Orphan'; gracePeriodSeconds?: number } = {}): Promise<boolean> {
    try {
      await this.call(`delete ${kind.plural} ${namespace}/${name}`, {
        method: 'DELETE',
        path: objectPath(kind, namespace, name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: options.propagation ?? 'Background',
          ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
        },
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
    const what = `watch ${kind.plural}`;
    return streamRequest(
      this.connection,
      {
        path: collectionPath(kind, namespace),
        query: { watch: true, resourceVersion: options.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: options.timeoutSeconds, labelSelector: options.labelSelector },
      },
      {
        onLine: (line) => {
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch (err) {
            throw new Error(`${what}: a watch event is not JSON: ${line.slice(0, 200)}`, { cause: err });
          }
          if (typeof event.type !== 'string' || typeof event.object !== 'object' || event.object === null) throw new Error(`${what}: expected a watch event {type, object}, got ${line.slice(0, 200)}`);
          // An ERROR event's object is a Status (code 410: the resourceVersion is too old); callers handle it.
          onEvent({ type: event.type as WatchEvent['type'], object: event.object as WatchEvent['object'] });
        },
        done: (err) => done(err === null ? null : toKubeError(err, what)),
      },
    );
  }
}
