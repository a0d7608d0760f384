// WATCH as a chunked JSON stream: the initial events (a replay since a resourceVersion, or the current list
// with sendInitialEvents), then live events filtered by selectors, bookmarks, the timeout, and
// disconnection of a consumer that cannot keep up.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf } from './admission.ts';
import type { ApiCore } from './core.ts';
import { ApiError, badRequest, type Status } from './errors.ts';
import type { RequestInfo } from './faults.ts';
import type { KubeObject } from './json.ts';
import type { ResourceType } from './resources.ts';
import { wantsTable, type Route } from './routes.ts';
import type { FieldSelector, LabelSelector } from './selectors.ts';
import type { ChangeEvent, StoreWatcher } from './store.ts';
import { tableOf } from './table.ts';

/** An open watch (the fault hooks drop and stall them). */
export interface ActiveWatch {
  info: RequestInfo;
  res: ServerResponse;
  stalled: boolean;
  buffered: string[];
  close(): void;
}

export interface WatchContext {
  readonly core: ApiCore;
  /** The server's open watches; a watch is in it while open. */
  readonly watches: Set<ActiveWatch>;
  readonly bookmarkIntervalMs: number;
  /** When the client gives no timeoutSeconds. */
  readonly defaultWatchTimeoutSeconds: number;
}

/** A consumer with this much unsent output is disconnected, as the real server does, to bound memory. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

interface WatchRequest {
  readonly namespace: string | undefined;
  readonly labels: LabelSelector;
  readonly fields: FieldSelector;
  /** Replay since this resourceVersion; undefined: start from the current list. */
  readonly sinceRv: number | undefined;
  readonly bookmarks: boolean;
  readonly sendInitialEvents: boolean;
  readonly timeoutSeconds: number;
  readonly info: RequestInfo;
}

function parseWatchRequest(ctx: WatchContext, req: IncomingMessage, r: ResourceType, route: Route, q: URLSearchParams): WatchRequest {
  const namespace = r.namespaced ? route.namespace : undefined;
  let fieldSelector = q.get('fieldSelector') ?? undefined;
  if (route.name !== undefined) fieldSelector = [fieldSelector, `metadata.name=${route.name}`].filter((s) => s !== undefined && s !== '').join(',');
  const { labels, fields } = ctx.core.selectors(r, q.get('labelSelector') ?? undefined, fieldSelector);
  const rvParam = q.get('resourceVersion') ?? '';
  const sendInitialEvents = q.get('sendInitialEvents') === 'true';
  const timeoutParam = q.get('timeoutSeconds');
  const timeoutSeconds = timeoutParam !== null && timeoutParam !== '' ? Number(timeoutParam) : ctx.defaultWatchTimeoutSeconds;
  if (sendInitialEvents && q.get('resourceVersionMatch') !== 'NotOlderThan') {
    throw new ApiError(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled`);
  }
  let sinceRv: number | undefined;
  if (rvParam !== '' && rvParam !== '0' && !sendInitialEvents) {
    sinceRv = Number(rvParam);
    if (!Number.isInteger(sinceRv) || sinceRv < 0) throw badRequest(`invalid resource version "${rvParam}"`);
  }
  const info: RequestInfo = { verb: 'watch', method: 'GET', path: new URL(req.url ?? '/', 'http://x').pathname, resource: r.plural };
  if (namespace !== undefined) info.namespace = namespace;
  if (route.name !== undefined) info.name = route.name;
  return { namespace, labels, fields, sinceRv, bookmarks: q.get('allowWatchBookmarks') === 'true', sendInitialEvents, timeoutSeconds, info };
}

function bookmark(ctx: WatchContext, r: ResourceType, metadata: Record<string, unknown>): unknown {
  return { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(ctx.core.store.rv), ...metadata } };
}

/** The encoded initial events, or undefined after answering 410 for a resourceVersion past compaction. */
function initialEvents(ctx: WatchContext, r: ResourceType, w: WatchRequest, encode: (type: string, object: unknown) => string, res: ServerResponse): string[] | undefined {
  const core = ctx.core;
  const replay: string[] = [];
  if (w.sinceRv === undefined) {
    const list = core.list(r, w.namespace, {});
    for (const obj of list.items) if (core.matches(r, obj, w.labels, w.fields)) replay.push(encode('ADDED', obj));
    if (w.sendInitialEvents) replay.push(encode('BOOKMARK', bookmark(ctx, r, { annotations: { 'k8s.io/initial-events-end': 'true' } })));
    return replay;
  }
  let events: ChangeEvent[];
  try {
    events = core.store.eventsSince(r.storage, w.sinceRv);
  } catch (err) {
    if (err instanceof ApiError) {
      res.end(encode('ERROR', err.toStatus() satisfies Status));
      return undefined;
    }
    throw err;
  }
  for (const e of events) {
    if (w.namespace !== undefined && e.object.metadata.namespace !== w.namespace) continue;
    const out = core.watchEventFor(r, e, w.labels, w.fields);
    if (out !== undefined) replay.push(encode(out.type, out.object));
  }
  return replay;
}

/** Serves one watch request until the client leaves, the timeout passes or a fault drops it. */
export function serveWatch(ctx: WatchContext, req: IncomingMessage, res: ServerResponse, r: ResourceType, route: Route, q: URLSearchParams): void {
  const w = parseWatchRequest(ctx, req, r, route, q);
  const table = wantsTable(req.headers.accept);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const encode = (type: string, object: unknown): string => {
    if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
      const obj = object as KubeObject;
      return `${JSON.stringify({ type, object: tableOf(r, [obj], obj.metadata.resourceVersion ?? '', req.url ?? '') })}\n`;
    }
    return `${JSON.stringify({ type, object })}\n`;
  };
  const replay = initialEvents(ctx, r, w, encode, res);
  if (replay === undefined) return;

  let closed = false;
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  const active: ActiveWatch = {
    info: w.info,
    res,
    stalled: false,
    buffered: [],
    close: () => {
      if (closed) return;
      closed = true;
      ctx.core.store.removeWatcher(watcher);
      ctx.watches.delete(active);
      if (bookmarkTimer !== undefined) clearInterval(bookmarkTimer);
      if (timeoutTimer !== undefined) clearTimeout(timeoutTimer);
      if (!res.writableEnded) res.end();
    },
  };
  const send = (line: string): void => {
    if (closed) return;
    if (active.stalled) {
      active.buffered.push(line);
      return;
    }
    res.write(line);
    if (res.writableLength > MAX_PENDING_BYTES) active.close();
  };
  const watcher: StoreWatcher = {
    storage: r.storage,
    namespace: w.namespace,
    deliver: (e) => {
      const out = ctx.core.watchEventFor(r, e, w.labels, w.fields);
      if (out !== undefined) send(encode(out.type, out.object));
    },
  };
  ctx.core.store.addWatcher(watcher);
  ctx.watches.add(active);
  if (replay.length > 0) send(replay.join(''));
  if (w.bookmarks) {
    bookmarkTimer = setInterval(() => send(encode('BOOKMARK', bookmark(ctx, r, { creationTimestamp: null }))), ctx.bookmarkIntervalMs);
    bookmarkTimer.unref();
  }
  if (Number.isFinite(w.timeoutSeconds) && w.timeoutSeconds > 0) {
    timeoutTimer = setTimeout(() => active.close(), w.timeoutSeconds * 1000);
    timeoutTimer.unref();
  }
  req.on('close', () => active.close());
  res.on('close', () => active.close());
}
