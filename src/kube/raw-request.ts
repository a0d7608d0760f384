// Plain-JSON HTTP requests on a KubeConnection (server, TLS, client certificates, tokens, exec plugins):
// objects go out exactly as built, without the client library's typed models, which drop every field
// their Kubernetes release does not know. Watches stream on their own agent.
import * as http from 'node:http';
import * as https from 'node:https';
import type { Credentials } from './credentials.ts';
import type { KubeConnection } from './kubeconfig.ts';

/** A non-2xx answer: `code` the HTTP status, `body` the response text (a Status object as JSON). */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(`HTTP ${code}`);
  }
}

export interface RawRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, for example /api/v1/namespaces/ml/pods. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Serialized with JSON.stringify (JSON is valid YAML, so it also serves apply patches). */
  readonly body?: unknown;
  readonly contentType?: string;
  /** Aborts a request without an answer after this long (default 60 s). */
  readonly timeoutMs?: number;
}

// Requests go through one keep-alive Agent per connection and protocol (not a new connection and TLS
// handshake each time). An Agent keys its idle connections by each request's TLS options, so rotated
// client certificates get new connections. An idle connection is closed after 30 s (before a server's
// idle timeout can race a new request on it). Watches hold their connection for minutes, so they get
// agents of their own and never take the sockets ordinary requests wait for.
const keepAliveAgents = new WeakMap<KubeConnection, Map<string, http.Agent>>();

function agentFor(conn: KubeConnection, protocol: string, purpose: 'request' | 'watch'): http.Agent {
  let agents = keepAliveAgents.get(conn);
  if (agents === undefined) keepAliveAgents.set(conn, (agents = new Map()));
  const key = `${purpose} ${protocol}`;
  let agent = agents.get(key);
  if (agent === undefined) {
    const options = purpose === 'request' ? { keepAlive: true, timeout: 30_000 } : { keepAlive: false };
    agents.set(key, (agent = new (protocol === 'http:' ? http.Agent : https.Agent)(options)));
  }
  return agent;
}

async function prepare(conn: KubeConnection, req: RawRequest, purpose: 'request' | 'watch'): Promise<{ url: URL; options: https.RequestOptions; payload: Buffer | undefined; used: Credentials }> {
  const url = new URL(conn.server + req.path);
  for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const options: https.RequestOptions = {
    method: req.method,
    headers: {
      Accept: 'application/json',
      ...(payload === undefined ? {} : { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': payload.length }),
    },
  };
  const used = await conn.applyTo(options);
  options.agent = agentFor(conn, url.protocol, purpose);
  return { url, options, payload, used };
}

/** A non-2xx answer; a 401 tells the connection that the credentials it sent were refused. */
function statusError(conn: KubeConnection, used: Credentials, code: number, body: string): HttpStatusError {
  if (code === 401) conn.unauthorized(used);
  return new HttpStatusError(code, body);
}

/** Sends `req` with the connection's server and credentials; resolves with the parsed JSON answer. */
export async function rawRequest(conn: KubeConnection, req: RawRequest): Promise<unknown> {
  const { url, options, payload, used } = await prepare(conn, req, 'request');
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise<unknown>((resolve, reject) => {
    const request = transport.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const code = res.statusCode ?? 0;
        if (code < 200 || code >= 300) {
          reject(statusError(conn, used, code, text));
          return;
        }
        try {
          resolve(text === '' ? {} : JSON.parse(text));
        } catch (err) {
          reject(new Error(`${req.method} ${req.path}: the answer is not JSON: ${text.slice(0, 200)}`, { cause: err }));
        }
      });
    });
    request.setTimeout(req.timeoutMs ?? 60_000, () => request.destroy(new Error(`${req.method} ${req.path}: no answer within ${req.timeoutMs ?? 60_000} ms`)));
    request.on('error', reject);
    request.end(payload);
  });
}

/** A streaming GET: `onLine` gets each newline-terminated line of a 2xx answer. */
export interface StreamHandlers {
  onLine(line: string): void;
  /** Called once: null at a normal end (and after abort), else the failure (HttpStatusError for non-2xx). */
  done(err: Error | null): void;
}

/**
 * Starts a streaming GET (a watch); resolves once the server has answered (or the request failed, after
 * `done`) with `abort`, which ends the stream and calls done(null) if it had not ended yet.
 */
export async function streamRequest(conn: KubeConnection, req: Omit<RawRequest, 'method' | 'body' | 'contentType' | 'timeoutMs'>, handlers: StreamHandlers): Promise<{ abort(): void }> {
  let ended = false;
  let request: http.ClientRequest | undefined;
  const end = (err: Error | null): void => {
    if (ended) return;
    ended = true;
    request?.destroy();
    handlers.done(err);
  };
  const handle = { abort: () => end(null) };
  let prepared;
  try {
    prepared = await prepare(conn, { ...req, method: 'GET' }, 'watch');
  } catch (err) {
    end(err instanceof Error ? err : new Error(String(err)));
    return handle;
  }
  const { url, options, used } = prepared;
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve) => {
    request = transport.request(url, options, (res) => {
      resolve(handle);
      const code = res.statusCode ?? 0;
      if (code < 200 || code >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => end(statusError(conn, used, code, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', (err) => end(statusError(conn, used, code, Buffer.concat(chunks).toString('utf8') || err.message)));
        return;
      }
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk: string) => {
        pending += chunk;
        let newline: number;
        while (!ended && (newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line === '') continue;
          try {
            handlers.onLine(line);
          } catch (err) {
            end(err instanceof Error ? err : new Error(String(err)));
          }
        }
      });
      res.on('end', () => {
        if (pending.trim() !== '' && !ended) {
          try {
            handlers.onLine(pending.trim());
          } catch (err) {
            end(err instanceof Error ? err : new Error(String(err)));
          }
        }
        end(null);
      });
      res.on('error', (err) => end(err));
      // A server end that dies without a FIN shows as 'aborted'/'close' before 'end'.
      res.on('close', () => end(res.complete ? null : new Error(`GET ${req.path}: the stream broke off`)));
    });
    request.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
    request.on('error', (err) => {
      resolve(handle);
      end(err);
    });
    request.end();
  });
}
