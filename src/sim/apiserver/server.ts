// The HTTP front of the embedded API server: routing of Kubernetes REST paths, discovery, OpenAPI,
// content negotiation (JSON and server-side Tables), chunked watch streams and the test fault hooks.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ApiCore} from './core.ts';
import { type DeleteOptions, type ListOptions, type WriteOptions } from './core.ts';
import { ApiError, badRequest, internalError, methodNotAllowed, notAcceptable, notFound, tooManyRequests, type Status } from './errors.ts';
import { isObject, type KubeObject } from './json.ts';
import { openApiV2, openApiV3, openApiV3Index } from './openapi.ts';
import { decodeKubeProtobuf, isProtobufContentType, protobufMediaType } from './protobuf.ts';
import type { ResourceType } from './resources.ts';
import type { ChangeEvent, StoreWatcher } from './store.ts';

/** The verbs a request can have (as in audit logs and RBAC). */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'discovery';

/** Describes one request for fault matching. */
export interface RequestInfo {
  verb: Verb;
  method: string;
  path: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Which requests a fault applies to: every given field must match. */
export interface RequestMatcher {
  verb?: Verb | Verb[];
  /** Exact path, or a pattern tested against the path (without query). */
  path?: string | RegExp;
  /** Plural resource name, e.g. `pods`. */
  resource?: string;
  namespace?: string;
  name?: string;
}

interface Failure {
  match: RequestMatcher;
  code: number;
  remaining: number;
}

interface ActiveWatch {
  info: RequestInfo;
  res: ServerResponse;
  stalled: boolean;
  buffered: string[];
  close(): void;
}

/** Fault hooks for tests. */
export interface Faults {
  /** Fails the next `times` (default 1) matching requests with `code` (410, 429, 500, 503, ...). */
  failNext(match: RequestMatcher, code: number, times?: number): void;
  /** Fails every matching request with `code` until `clear()`. */
  failAlways(match: RequestMatcher, code: number): void;
  /** Closes matching open watches (the client sees the stream end); returns how many. */
  dropWatches(match?: RequestMatcher): number;
  /** Stops delivering events to matching open watches (connection stays open); returns a resume function. */
  stallWatches(match?: RequestMatcher): () => void;
  /** Compacts history: any watch or continue token from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Removes all failure rules and resumes stalled watches. */
  clear(): void;
}

export interface ServerOptions {
  host: string;
  port: number;
  token: string;
  bookmarkIntervalMs: number;
  /** Default watch timeout when the client gives none (the real server uses 30–60 min). */
  defaultWatchTimeoutSeconds: number;
  maxBodyBytes: number;
}

function matches(m: RequestMatcher, info: RequestInfo): boolean {
  if (m.verb !== undefined && !(Array.isArray(m.verb) ? m.verb.includes(info.verb) : m.verb === info.verb)) return false;
  if (m.path !== undefined && !(typeof m.path === 'string' ? m.path === info.path : m.path.test(info.path))) return false;
  if (m.resource !== undefined && m.resource !== info.resource) return false;
  if (m.namespace !== undefined && m.namespace !== info.namespace) return false;
  if (m.name !== undefined && m.name !== info.name) return false;
  return true;
}

function statusForCode(code: number, info: RequestInfo, core: ApiCore): ApiError {
  switch (code) {
    case 410:
      return core.store.tooOld(Math.max(0, core.store.compactedRv - 1));
    case 429:
      return tooManyRequests(1);
    case 404:
      return notFound('', info.resource ?? '', info.name ?? '');
    case 500:
      return internalError('injected fault');
    case 503:
      return new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    case 409:
      return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${info.resource ?? ''} "${info.name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`);
    default:
      return new ApiError(code, 'InternalError', `injected fault ${code}`);
  }
}

/** Parsed resource path. */
interface Route {
  group: string;
  version: string;
  namespace: string | undefined;
  plural: string;
  name: string | undefined;
  subresource: string | undefined;
  legacyWatch: boolean;
}

function parseResourcePath(parts: string[]): Route | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] ?? '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    version = parts[2] ?? '';
    rest = parts.slice(3);
  } else return undefined;
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  if (plural === undefined || extra.length > 0) return undefined;
  return { group, version, namespace, plural, name, subresource, legacyWatch };
}

function userAgentManager(ua: string | undefined): string {
  const prefix = (ua ?? '').split('/')[0]?.trim() ?? '';
  return prefix === '' ? 'unknown' : prefix.slice(0, 128);
}

function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

/** The HTTP server around an ApiCore. */
export class ApiHttpServer {
  readonly core: ApiCore;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<ActiveWatch>();
  private readonly failures: Failure[] = [];
  /** Requests served, by verb (for tests and the benchmark). */
  readonly requestCounts = new Map<string, number>();
  port: number;

  constructor(
    core: ApiCore,
    private readonly options: ServerOptions,
  ) {
    this.core = core;
    this.port = options.port;
  }

  async listen(): Promise<void> {
    const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.sendError(res, err instanceof ApiError ? err : internalError((err as Error).message));
      });
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Closes the listener, every watch and every connection. */
  async close(): Promise<void> {
    for (const w of [...this.watches]) w.close();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  watchCount(): number {
    return this.watches.size;
  }

  readonly faults: Faults = {
    failNext: (match, code, times = 1) => {
      this.failures.push({ match, code, remaining: times });
    },
    failAlways: (match, code) => {
      this.failures.push({ match, code, remaining: Infinity });
    },
    dropWatches: (match) => {
      let n = 0;
      for (const w of [...this.watches]) {
        if (match === undefined || matches(match, w.info)) {
          w.close();
          n++;
        }
      }
      return n;
    },
    stallWatches: (match) => {
      const stalled = [...this.watches].filter((w) => match === undefined || matches(match, w.info));
      for (const w of stalled) w.stalled = true;
      return () => {
        for (const w of stalled) {
          w.stalled = false;
          const lines = w.buffered.splice(0);
          if (lines.length > 0 && !w.res.writableEnded) w.res.write(lines.join(''));
        }
      };
    },
    compact: () => this.core.store.compact(),
    clear: () => {
      this.failures.splice(0);
      for (const w of this.watches) {
        w.stalled = false;
        const lines = w.buffered.splice(0);
        if (lines.length > 0 && !w.res.writableEnded) w.res.write(lines.join(''));
      }
    },
  };

  private takeFailure(info: RequestInfo): Failure | undefined {
    const index = this.failures.findIndex((f) => f.remaining > 0 && matches(f.match, info));
    if (index < 0) return undefined;
    const f = this.failures[index];
    if (f === undefined) return undefined;
    f.remaining -= 1;
    if (f.remaining <= 0) this.failures.splice(index, 1);
    return f;
  }

  private sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private', ...headers });
    res.end(text);
  }

  private sendError(res: ServerResponse, err: ApiError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.sendJson(res, err.code, err.toStatus(), err.headers);
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    return (await this.readBodyBytes(req)).toString('utf8');
  }

  private async readBodyBytes(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > this.options.maxBodyBytes) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
      chunks.push(buf);
    }
    return Buffer.concat(chunks);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const auth = req.headers.authorization;
    if (auth !== undefined && auth !== `Bearer ${this.options.token}`) {
      this.sendJson(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      return;
    }
    const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
    const route = parseResourcePath(parts);
    if (route === undefined) {
      const info: RequestInfo = { verb: 'discovery', method, path: url.pathname };
      const failure = this.takeFailure(info);
      if (failure !== undefined) throw statusForCode(failure.code, info, this.core);
      this.count('discovery');
      await this.handleNonResource(req, res, parts, url);
      return;
    }
    const r = this.core.registry.lookup(route.group, route.version, route.plural);
    const q = url.searchParams;
    const isWatch = route.legacyWatch || q.get('watch') === 'true' || q.get('watch') === '1';
    const verb: Verb = method === 'GET' ? (route.name === undefined ? (isWatch ? 'watch' : 'list') : isWatch ? 'watch' : 'get') : method === 'POST' ? (route.subresource === 'binding' ? 'create' : 'create') : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? (route.name === undefined ? 'deletecollection' : 'delete') : 'get';
    const info: RequestInfo = { verb, method, path: url.pathname, resource: route.plural };
    if (route.subresource !== undefined) info.subresource = route.subresource;
    if (route.namespace !== undefined) info.namespace = route.namespace;
    if (route.name !== undefined) info.name = route.name;
    this.count(verb);
    const failure = this.takeFailure(info);
    if (failure !== undefined) {
      const err = statusForCode(failure.code, info, this.core);
      if (verb === 'watch' && failure.code === 410) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
        res.end(`${JSON.stringify({ type: 'ERROR', object: err.toStatus() })}\n`);
        return;
      }
      throw err;
    }
    if (r === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (r.namespaced && route.namespace === undefined && route.name !== undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (!r.namespaced && route.namespace !== undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const sub = route.subresource;
    if (sub !== undefined && !((sub === 'status' && r.hasStatus) || (sub === 'binding' && r.hasBinding) || (sub === 'scale' && r.scale !== undefined) || (sub === 'finalize' && r.kind === 'Namespace'))) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    await this.handleResource(req, res, r, route, verb, q);
  }

  private count(verb: string): void {
    this.requestCounts.set(verb, (this.requestCounts.get(verb) ?? 0) + 1);
  }

  private writeOptions(req: IncomingMessage, q: URLSearchParams): WriteOptions {
    const dryRun = q.getAll('dryRun');
    for (const d of dryRun) if (d !== 'All') throw badRequest(`dryRun: Unsupported value: ${JSON.stringify(d)}: supported values: "All"`);
    const fv = q.get('fieldValidation') ?? 'Warn';
    const normalized = fv === '' ? 'Warn' : fv;
    if (!['Strict', 'Warn', 'Ignore'].includes(normalized)) {
      throw badRequest(`fieldValidation: Unsupported value: ${JSON.stringify(fv)}: supported values: "Ignore", "Strict", "Warn"`);
    }
    const opts: WriteOptions = { dryRun: dryRun.includes('All'), fieldManager: q.get('fieldManager') ?? undefined, userAgentManager: userAgentManager(req.headers['user-agent']), fieldValidation: normalized as WriteOptions['fieldValidation'], warnings: [] };
    return opts;
  }

  private respondObject(req: IncomingMessage, res: ServerResponse, r: ResourceType, code: number, obj: KubeObject, opts: WriteOptions | undefined): void {
    const headers: Record<string, string> = {};
    if (opts !== undefined && opts.warnings.length > 0) headers['Warning'] = opts.warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ');
    if (wantsTable(req.headers.accept)) {
      this.sendJson(res, code, this.table(r, [obj], String(obj.metadata.resourceVersion ?? this.core.store.rv), req.url ?? ''), headers);
      return;
    }
    this.sendJson(res, code, obj, headers);
  }

  private table(r: ResourceType, items: KubeObject[], resourceVersion: string, url: string, continueToken?: string, includeDefinitions = true): unknown {
    const now = Date.now();
    const includeObject = new URL(url, 'http://x').searchParams.get('includeObject') ?? 'Metadata';
    const columns = r.printerColumns;
    const metadata: Record<string, unknown> = { resourceVersion };
    if (continueToken !== undefined) metadata['continue'] = continueToken;
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata,
      columnDefinitions: includeDefinitions ? columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description, priority: c.priority })) : [],
      rows: items.map((obj) => ({
        cells: columns.map((c) => c.cell(obj, now)),
        object: includeObject === 'None' ? null : includeObject === 'Object' ? obj : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata },
      })),
    };
  }

  private async handleResource(req: IncomingMessage, res: ServerResponse, r: ResourceType, route: Route, verb: Verb, q: URLSearchParams): Promise<void> {
    const accept = req.headers.accept;
    if (accept !== undefined && accept !== '' && !/application\/json|\*\/\*|application\/\*|as=Table/.test(accept) && !/yaml/.test(accept)) {
      throw notAcceptable(`only the following media types are accepted: application/json, application/yaml`);
    }
    const ns = route.namespace;
    const name = route.name;
    const sub = route.subresource === 'status' ? 'status' : undefined;
    switch (verb) {
      case 'get': {
        const obj = this.core.get(r, ns, name ?? '');
        this.respondObject(req, res, r, 200, route.subresource === 'scale' ? this.scaleOf(r, obj) : obj, undefined);
        return;
      }
      case 'list': {
        const listOpts = this.listOptions(q);
        const list = this.core.list(r, ns, listOpts);
        if (wantsTable(accept)) {
          this.sendJson(res, 200, this.table(r, list.items, list.metadata.resourceVersion, req.url ?? '', list.metadata.continue));
          return;
        }
        this.sendJson(res, 200, list);
        return;
      }
      case 'watch':
        this.serveWatch(req, res, r, route, q);
        return;
      case 'create': {
        const opts = this.writeOptions(req, q);
        const body = await this.parseBody(req);
        if (route.subresource === 'binding' || r.plural === 'bindings') {
          const bound = this.bind(r, ns, name ?? '', body, opts);
          this.sendJson(res, 201, bound);
          return;
        }
        if (name !== undefined) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
        const obj = this.core.create(r, ns, body, opts);
        this.respondObject(req, res, r, 201, obj, opts);
        return;
      }
      case 'update': {
        if (name === undefined) throw methodNotAllowed('the server does not allow this method on the requested resource');
        const opts = this.writeOptions(req, q);
        const body = await this.parseBody(req);
        if (route.subresource === 'scale') {
          this.respondObject(req, res, r, 200, this.updateScale(r, ns, name, body, opts), opts);
          return;
        }
        const obj = route.subresource === 'finalize' ? this.finalizeNamespace(r, name, body, opts) : this.core.update(r, ns, name, body, opts, sub);
        this.respondObject(req, res, r, 200, obj, opts);
        return;
      }
      case 'patch': {
        if (name === undefined) throw methodNotAllowed('the server does not allow this method on the requested resource');
        const opts = this.writeOptions(req, q);
        const raw = await this.readBody(req);
        const contentType = req.headers['content-type'] ?? '';
        const force = q.get('force') === 'true';
        const existed = this.core.store.get(r.storage, r.namespaced ? `${ns ?? ''}/${name}` : name) !== undefined;
        const obj = this.core.patch(r, ns, name, contentType, raw, opts, sub, force);
        this.respondObject(req, res, r, existed ? 200 : 201, obj, opts);
        return;
      }
      case 'delete': {
        const opts = this.writeOptions(req, q);
        const options = await this.deleteOptions(req, q);
        const { object, deleted } = this.core.delete(r, ns, name ?? '', options, opts);
        if (deleted && r.builtin && r.kind !== 'Pod') {
          this.sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: object.metadata.name, ...(r.group === '' ? {} : { group: r.group }), kind: r.plural, uid: object.metadata.uid } });
          return;
        }
        this.respondObject(req, res, r, !deleted && options.propagationPolicy === 'Foreground' ? 202 : 200, object, opts);
        return;
      }
      case 'deletecollection': {
        const opts = this.writeOptions(req, q);
        const options = await this.deleteOptions(req, q);
        const list = this.core.deleteCollection(r, ns, this.listOptions(q), options, opts);
        this.sendJson(res, 200, list);
        return;
      }
      default:
        throw methodNotAllowed('the server does not allow this method on the requested resource');
    }
  }

  private listOptions(q: URLSearchParams): ListOptions {
    const out: ListOptions = {};
    const ls = q.get('labelSelector');
    if (ls !== null) out.labelSelector = ls;
    const fs = q.get('fieldSelector');
    if (fs !== null) out.fieldSelector = fs;
    const limit = q.get('limit');
    if (limit !== null && limit !== '') {
      if (!/^\d+$/.test(limit)) throw badRequest(`limit: Invalid value: ${JSON.stringify(limit)}: must be a non-negative integer`);
      out.limit = Number(limit);
    }
    const cont = q.get('continue');
    if (cont !== null && cont !== '') out.continue = cont;
    const rv = q.get('resourceVersion');
    if (rv !== null) out.resourceVersion = rv;
    const rvm = q.get('resourceVersionMatch');
    if (rvm !== null && rvm !== '') out.resourceVersionMatch = rvm;
    return out;
  }

  private async parseBody(req: IncomingMessage): Promise<unknown> {
    const bytes = await this.readBodyBytes(req);
    const contentType = req.headers['content-type'] ?? 'application/json';
    if (isProtobufContentType(contentType)) return decodeKubeProtobuf(bytes);
    const type = contentType.split(';')[0]?.trim() ?? '';
    if (type.includes('protobuf')) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, ${protobufMediaType}`, {});
    const raw = bytes.toString('utf8');
    if (raw.trim() === '') throw badRequest("Object 'Kind' is missing in ''");
    try {
      if (type === 'application/yaml') {
        const { load } = await import('js-yaml');
        return load(raw);
      }
      return JSON.parse(raw);
    } catch (err) {
      throw badRequest(`the object provided is unrecognized: ${(err as Error).message}`);
    }
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions> {
    const raw = await this.readBody(req);
    const out: DeleteOptions = {};
    let body: Record<string, unknown> = {};
    if (raw.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (isObject(parsed)) body = parsed;
      } catch {
        throw badRequest('the body of the delete request is not valid DeleteOptions');
      }
    }
    const policy = (body['propagationPolicy'] as string | undefined) ?? q.get('propagationPolicy') ?? undefined;
    if (policy !== undefined && policy !== '') {
      if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') throw badRequest(`propagationPolicy: Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"`);
      out.propagationPolicy = policy;
    } else {
      const orphan = body['orphanDependents'] ?? (q.get('orphanDependents') === null ? undefined : q.get('orphanDependents') === 'true');
      if (orphan === true) out.propagationPolicy = 'Orphan';
    }
    const grace = body['gracePeriodSeconds'] ?? q.get('gracePeriodSeconds');
    if (grace !== undefined && grace !== null && grace !== '') out.gracePeriodSeconds = Number(grace);
    if (isObject(body['preconditions'])) {
      const p = body['preconditions'];
      out.preconditions = {};
      if (typeof p['uid'] === 'string') out.preconditions.uid = p['uid'];
      if (typeof p['resourceVersion'] === 'string') out.preconditions.resourceVersion = p['resourceVersion'];
    }
    if (Array.isArray(body['dryRun']) && (body['dryRun'] as unknown[]).includes('All')) q.set('dryRun', 'All');
    return out;
  }

  private bind(r: ResourceType, ns: string | undefined, podName: string, body: unknown, opts: WriteOptions): unknown {
    if (!isObject(body) || !isObject(body['target']) || typeof body['target']['name'] !== 'string') {
      throw new ApiError(422, 'Invalid', `Binding "${podName}" is invalid: target.name: Required value`);
    }
    const nodeName = body['target']['name'];
    const pod = this.core.get(r, ns, podName);
    const spec = isObject(pod['spec']) ? pod['spec'] : {};
    if (typeof spec['nodeName'] === 'string' && spec['nodeName'] !== '') {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${podName}": pod ${podName} is already assigned to node "${spec['nodeName']}"`, { name: podName, kind: 'pods/binding' });
    }
    const patch = JSON.stringify({ spec: { nodeName } });
    this.core.patch(r, ns, podName, 'application/merge-patch+json', patch, opts, undefined, false);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  private scaleOf(r: ResourceType, obj: KubeObject): KubeObject {
    const read = (path: string): unknown => path.replace(/^\./, '').split('.').reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), obj);
    const scale = r.scale;
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: obj.metadata.name ?? '', namespace: obj.metadata.namespace ?? '', uid: obj.metadata.uid ?? '', resourceVersion: obj.metadata.resourceVersion ?? '', creationTimestamp: obj.metadata.creationTimestamp ?? '' },
      spec: { replicas: Number(read(scale?.specReplicasPath ?? '') ?? 0) },
      status: { replicas: Number(read(scale?.statusReplicasPath ?? '') ?? 0), ...(scale?.labelSelectorPath !== undefined && read(scale.labelSelectorPath) !== undefined ? { selector: read(scale.labelSelectorPath) } : {}) },
    };
  }

  private updateScale(r: ResourceType, ns: string | undefined, name: string, body: unknown, opts: WriteOptions): KubeObject {
    const replicas = isObject(body) && isObject(body['spec']) ? body['spec']['replicas'] : undefined;
    if (typeof replicas !== 'number') throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Required value`);
    const path = (r.scale?.specReplicasPath ?? '.spec.replicas').replace(/^\./, '').split('.');
    const patch: Record<string, unknown> = {};
    let cur = patch;
    path.forEach((k, i) => {
      if (i === path.length - 1) cur[k] = replicas;
      else {
        const next: Record<string, unknown> = {};
        cur[k] = next;
        cur = next;
      }
    });
    const updated = this.core.patch(r, ns, name, 'application/merge-patch+json', JSON.stringify(patch), opts, undefined, false);
    return this.scaleOf(r, updated);
  }

  private finalizeNamespace(r: ResourceType, name: string, body: unknown, opts: WriteOptions): KubeObject {
    const current = this.core.get(r, undefined, name);
    const finalizers = isObject(body) && isObject(body['spec']) && Array.isArray(body['spec']['finalizers']) ? body['spec']['finalizers'] : [];
    const next = { ...current, spec: { ...(isObject(current['spec']) ? current['spec'] : {}), finalizers } };
    return this.core.update(r, undefined, name, next, opts, 'status');
  }

  // ---------------------------------------------------------------- watch

  private serveWatch(req: IncomingMessage, res: ServerResponse, r: ResourceType, route: Route, q: URLSearchParams): void {
    const ns = r.namespaced ? route.namespace : undefined;
    let fieldSelector = q.get('fieldSelector') ?? undefined;
    if (route.name !== undefined) fieldSelector = [fieldSelector, `metadata.name=${route.name}`].filter((s) => s !== undefined && s !== '').join(',');
    const { labels, fields } = this.core.selectors(r, q.get('labelSelector') ?? undefined, fieldSelector);
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    const table = wantsTable(req.headers.accept);
    const timeoutParam = q.get('timeoutSeconds');
    const timeoutSeconds = timeoutParam !== null && timeoutParam !== '' ? Number(timeoutParam) : this.options.defaultWatchTimeoutSeconds;
    if (sendInitial && q.get('resourceVersionMatch') !== 'NotOlderThan') {
      throw new ApiError(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled`);
    }
    let rv: number | undefined;
    if (rvParam !== '' && rvParam !== '0' && !sendInitial) {
      rv = Number(rvParam);
      if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${rvParam}"`);
    }
    const info: RequestInfo = { verb: 'watch', method: 'GET', path: new URL(req.url ?? '/', 'http://x').pathname, resource: r.plural };
    if (ns !== undefined) info.namespace = ns;
    if (route.name !== undefined) info.name = route.name;

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const encode = (type: string, object: unknown): string => {
      if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
        const obj = object as KubeObject;
        return `${JSON.stringify({ type, object: this.table(r, [obj], obj.metadata.resourceVersion ?? '', req.url ?? '') })}\n`;
      }
      return `${JSON.stringify({ type, object })}\n`;
    };

    let replay: string[] = [];
    if (rv === undefined) {
      const list = this.core.list(r, ns, {});
      for (const obj of list.items) if (this.core.matches(r, obj, labels, fields)) replay.push(encode('ADDED', obj));
      if (sendInitial) replay.push(encode('BOOKMARK', { kind: r.kind, apiVersion: r.group === '' ? r.version : `${r.group}/${r.version}`, metadata: { resourceVersion: String(this.core.store.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } }));
    } else {
      let events: ChangeEvent[];
      try {
        events = this.core.store.eventsSince(r.storage, rv);
      } catch (err) {
        if (err instanceof ApiError) {
          res.end(encode('ERROR', err.toStatus() satisfies Status));
          return;
        }
        throw err;
      }
      replay = [];
      for (const e of events) {
        if (ns !== undefined && e.object.metadata.namespace !== ns) continue;
        const out = this.core.watchEventFor(r, e, labels, fields);
        if (out !== undefined) replay.push(encode(out.type, out.object));
      }
    }

    let closed = false;
    let bookmarkTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    const active: ActiveWatch = {
      info,
      res,
      stalled: false,
      buffered: [],
      close: () => {
        if (closed) return;
        closed = true;
        this.core.store.removeWatcher(watcher);
        this.watches.delete(active);
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
      // A consumer that cannot keep up is disconnected, as the real server does, to bound memory.
      if (res.writableLength > 16 * 1024 * 1024) active.close();
    };
    const watcher: StoreWatcher = {
      storage: r.storage,
      namespace: ns,
      deliver: (e) => {
        const out = this.core.watchEventFor(r, e, labels, fields);
        if (out !== undefined) send(encode(out.type, out.object));
      },
    };
    this.core.store.addWatcher(watcher);
    this.watches.add(active);
    if (replay.length > 0) send(replay.join(''));
    replay = [];
    if (bookmarks) {
      bookmarkTimer = setInterval(() => {
        send(encode('BOOKMARK', { kind: r.kind, apiVersion: r.group === '' ? r.version : `${r.group}/${r.version}`, metadata: { resourceVersion: String(this.core.store.rv), creationTimestamp: null } }));
      }, this.options.bookmarkIntervalMs);
      bookmarkTimer.unref();
    }
    if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) {
      timeoutTimer = setTimeout(() => active.close(), timeoutSeconds * 1000);
      timeoutTimer.unref();
    }
    req.on('close', () => active.close());
    res.on('close', () => active.close());
  }

  // ---------------------------------------------------------------- discovery & friends

  private async handleNonResource(req: IncomingMessage, res: ServerResponse, parts: string[], url: URL): Promise<void> {
    const path = `/${parts.join('/')}`;
    const registry = this.core.registry;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const host = req.headers.host ?? `127.0.0.1:${this.port}`;
    if (path === '/api') {
      this.sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] });
      return;
    }
    if (path === '/apis') {
      const groups = [...registry.groups()].filter(([g]) => g !== '').map(([name, versions]) => this.groupDoc(name, versions));
      this.sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      return;
    }
    if (parts[0] === 'apis' && parts.length === 2) {
      const versions = registry.groups().get(parts[1] ?? '');
      if (versions === undefined || parts[1] === '') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      this.sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...this.groupDoc(parts[1] ?? '', versions) });
      return;
    }
    if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
      const group = parts[0] === 'api' ? '' : (parts[1] ?? '');
      const version = parts[parts.length - 1] ?? '';
      const types = registry.all().filter((r) => r.group === group && r.version === version);
      if (types.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      this.sendJson(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources: this.resourceDocs(types) });
      return;
    }
    if (path === '/version') {
      this.sendJson(res, 200, { major: '1', minor: '35', emulationMajor: '1', emulationMinor: '35', minCompatibilityMajor: '1', minCompatibilityMinor: '34', gitVersion: 'v1.35.0', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-12-17T00:00:00Z', goVersion: 'go1.25.5', compiler: 'gc', platform: 'linux/amd64' });
      return;
    }
    if (path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end('ok');
      return;
    }
    if (path === '/openapi/v2') {
      const accept = req.headers.accept ?? '';
      if (accept !== '' && !/json|\*\/\*/.test(accept)) throw notAcceptable('only the following media types are accepted: application/json');
      this.sendJson(res, 200, openApiV2(registry));
      return;
    }
    if (path === '/openapi/v3') {
      this.sendJson(res, 200, openApiV3Index(registry));
      return;
    }
    if (parts[0] === 'openapi' && parts[1] === 'v3' && parts.length >= 4) {
      const rest = parts.slice(2);
      const group = rest[0] === 'api' ? '' : (rest[1] ?? '');
      const version = rest[rest.length - 1] ?? '';
      if (!registry.all().some((r) => r.group === group && r.version === version)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      const headers: Record<string, string> = url.searchParams.has('hash') ? { 'Cache-Control': 'public, immutable', Expires: new Date(Date.now() + 365 * 86400_000).toUTCString() } : {};
      this.sendJson(res, 200, openApiV3(registry, group, version), headers);
      return;
    }
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  private groupDoc(name: string, versions: string[]): Record<string, unknown> {
    const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
    return { name, versions: vs, preferredVersion: vs[0] };
  }

  private resourceDocs(types: ResourceType[]): unknown[] {
    const out: unknown[] = [];
    for (const r of types) {
      const doc: Record<string, unknown> = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
      if (r.shortNames.length > 0) doc['shortNames'] = r.shortNames;
      if (r.categories.length > 0) doc['categories'] = r.categories;
      out.push(doc);
      if (r.hasStatus) out.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      if (r.scale !== undefined) out.push({ name: `${r.plural}/scale`, singularName: '', namespaced: r.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
      if (r.hasBinding) out.push({ name: `${r.plural}/binding`, singularName: '', namespaced: r.namespaced, kind: 'Binding', verbs: ['create'] });
      if (r.kind === 'Namespace' && r.builtin) out.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
    }
    return out;
  }
}
