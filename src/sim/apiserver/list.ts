// LIST with the API server's consistency rules: selectors, pagination with continue tokens (a snapshot at
// the first page's resourceVersion), resourceVersion and resourceVersionMatch semantics, 410 past compaction.
import { ApiError, badRequest } from './errors.ts';
import type { KubeObject } from './json.ts';
import { apiVersionOf } from './admission.ts';
import type { ResourceType } from './resources.ts';
import type { FieldSelector, LabelSelector } from './selectors.ts';
import type { Store } from './store.ts';

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

/** What a list reads of the API core. */
export interface ListSource {
  readonly store: Store;
  selectors(r: ResourceType, labelSelector: string | undefined, fieldSelector: string | undefined): { labels: LabelSelector; fields: FieldSelector };
  toVersion(r: ResourceType, obj: KubeObject): KubeObject;
  matches(r: ResourceType, obj: KubeObject, labels: LabelSelector, fields: FieldSelector): boolean;
}

export function listObjects(core: ListSource, r: ResourceType, namespace: string | undefined, opts: ListOptions): ListResult {
  const { labels, fields } = core.selectors(r, opts.labelSelector, opts.fieldSelector);
  let snapshotRv = core.store.rv;
  let startAfter: string | undefined;
  if (opts.continue !== undefined && opts.continue !== '') {
    let token: { rv?: number; start?: string };
    try {
      token = JSON.parse(Buffer.from(opts.continue, 'base64url').toString('utf8')) as { rv?: number; start?: string };
    } catch {
      throw badRequest('continue key is not valid: illegal base64 data at input byte 0');
    }
    if (typeof token.rv !== 'number' || typeof token.start !== 'string') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    if (token.rv < core.store.compactedRv) {
      throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
    }
    snapshotRv = token.rv;
    startAfter = token.start;
  } else if (opts.resourceVersion !== undefined && opts.resourceVersion !== '' && opts.resourceVersion !== '0') {
    const rv = Number(opts.resourceVersion);
    if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${opts.resourceVersion}"`);
    if (opts.resourceVersionMatch === 'Exact') {
      if (rv > core.store.rv) throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${core.store.rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
      if (rv < core.store.compactedRv) throw core.store.tooOld(rv);
      snapshotRv = rv;
    } else if (rv > core.store.rv) {
      throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${core.store.rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
    }
  }
  const useSnapshot = snapshotRv !== core.store.rv;
  const table = useSnapshot ? core.store.snapshotAt(r.storage, snapshotRv) : undefined;
  const nsFilter = r.namespaced ? namespace : undefined;
  const keys = useSnapshot && table !== undefined ? [...table.keys()].filter((k) => nsFilter === undefined || k.startsWith(`${nsFilter}/`)).sort() : core.store.keys(r.storage, nsFilter);
  let start = 0;
  if (startAfter !== undefined) {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((keys[mid] ?? '') <= startAfter) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : Infinity;
  const items: KubeObject[] = [];
  let lastKey: string | undefined;
  let i = start;
  for (; i < keys.length && items.length < limit; i++) {
    const k = keys[i] ?? '';
    const stored = table !== undefined ? table.get(k) : core.store.get(r.storage, k);
    if (stored === undefined) continue;
    const obj = core.toVersion(r, stored);
    lastKey = k;
    if (core.matches(r, obj, labels, fields)) items.push(obj);
  }
  const result: ListResult = { apiVersion: apiVersionOf(r), kind: r.listKind, metadata: { resourceVersion: String(snapshotRv) }, items };
  if (i < keys.length && lastKey !== undefined) {
    result.metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: snapshotRv, start: lastKey })).toString('base64url');
    if (labels.empty && fields.empty) result.metadata.remainingItemCount = keys.length - i;
  }
  return result;
}
