// The HTTP front of the embedded API server: routing of Kubernetes REST paths, discovery, OpenAPI,
// content negotiation (JSON and server-side Tables), chunked watch streams and the test fault hooks.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ApiCore} from './core.ts';
import { type DeleteOptions, type ListOptions, type WriteOptions } from './core.ts';
import { serveNonResource } from './discovery.ts';
import { ApiError, badRequest, internalError, methodNotAllowed, notAcceptable } from './errors.ts';
import { FaultInjector, statusForCode, type Faults, type RequestInfo, type Verb } from './faults.ts';
import { sendJson } from './http-reply.ts';
import { isObject, type KubeObject } from './json.ts';
import { decodeKubeProtobuf, isProtobufContentType, protobufMediaType } from './protobuf.ts';
import type { ResourceType } from './resources.ts';
import { parseResourcePath, userAgentManager, wantsTable, type Route } from './routes.ts';
import { tableOf } from './table.ts';
import { serveWatch, type ActiveWatch } from './watch-stream.ts';

export type { Faults, RequestInfo, RequestMatcher, Verb } from './faults.ts';

export interface ServerOptions {
  host: string;
  port: number;
  token: string;
  bookmarkIntervalMs: number;
  /** Default watch timeout when the client gives none (the real server uses 30–60 min). */
  defaultWatchTimeoutSeconds: number;
  maxBodyBytes: number;
}

/** The HTTP server around an ApiCore. */
export class ApiHttpServer {
  readonly core: ApiCore;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<ActiveWatch>();
  private readonly faultInjector: FaultInjector;
  /** Requests served, by verb (for tests and the benchmark). */
  readonly requestCounts = new Map<string, number>();
  port: number;

  constructor(
    core: ApiCore,
    private readonly options: ServerOptions,
  ) {
    this.core = core;
    this.port = options.port;
    this.faultInjector = new FaultInjector(core.store, this.watches);
  }

  /** Fault hooks for tests. */
  get faults(): Faults {
    return this.faultInjector.faults;
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

  private sendError(res: ServerResponse, err: ApiError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, err.code, err.toStatus(), err.headers);
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
      sendJson(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      return;
    }
    const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
    const route = parseResourcePath(parts);
    if (route === undefined) {
      const info: RequestInfo = { verb: 'discovery', method, path: url.pathname };
      const failure = this.faultInjector.take(info);
      if (failure !== undefined) throw statusForCode(failure.code, info, this.core.store);
      this.count('discovery');
      serveNonResource(this.core.registry, req, res, parts, url, this.port);
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
    const failure = this.faultInjector.take(info);
    if (failure !== undefined) {
      const err = statusForCode(failure.code, info, this.core.store);
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
      sendJson(res, code, tableOf(r, [obj], String(obj.metadata.resourceVersion ?? this.core.store.rv), req.url ?? ''), headers);
      return;
    }
    sendJson(res, code, obj, headers);
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
          sendJson(res, 200, tableOf(r, list.items, list.metadata.resourceVersion, req.url ?? '', list.metadata.continue));
          return;
        }
        sendJson(res, 200, list);
        return;
      }
      case 'watch':
        serveWatch({ core: this.core, watches: this.watches, bookmarkIntervalMs: this.options.bookmarkIntervalMs, defaultWatchTimeoutSeconds: this.options.defaultWatchTimeoutSeconds }, req, res, r, route, q);
        return;
      case 'create': {
        const opts = this.writeOptions(req, q);
        const body = await this.parseBody(req);
        if (route.subresource === 'binding' || r.plural === 'bindings') {
          const bound = this.bind(r, ns, name ?? '', body, opts);
          sendJson(res, 201, bound);
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
          sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: object.metadata.name, ...(r.group === '' ? {} : { group: r.group }), kind: r.plural, uid: object.metadata.uid } });
          return;
        }
        this.respondObject(req, res, r, !deleted && options.propagationPolicy === 'Foreground' ? 202 : 200, object, opts);
        return;
      }
      case 'deletecollection': {
        const opts = this.writeOptions(req, q);
        const options = await this.deleteOptions(req, q);
        const list = this.core.deleteCollection(r, ns, this.listOptions(q), options, opts);
        sendJson(res, 200, list);
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
}
