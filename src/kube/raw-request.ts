// Plain-JSON HTTP requests on a kubeconfig's connection (server, TLS, client certificates, tokens, exec
// plugins): objects go out exactly as built, without the client library's typed models, which drop every
// field their Kubernetes release does not know.
import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

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

// The client library builds a new Agent per request (so a new connection and TLS handshake each time);
// requests go through one keep-alive Agent per kubeconfig and protocol instead. An Agent keys its idle
// connections by each request's TLS options, so rotated credentials get new connections. An idle
// connection is closed after 30 s (before a server's idle timeout can race a new request on it).
const keepAliveAgents = new WeakMap<KubeConfig, Map<string, http.Agent>>();

function keepAliveAgent(kc: KubeConfig, protocol: string): http.Agent {
  let agents = keepAliveAgents.get(kc);
  if (agents === undefined) keepAliveAgents.set(kc, (agents = new Map()));
  let agent = agents.get(protocol);
  if (agent === undefined) agents.set(protocol, (agent = new (protocol === 'http:' ? http.Agent : https.Agent)({ keepAlive: true, timeout: 30_000 })));
  return agent;
}

/** Sends `req` with the current context's server and credentials; resolves with the parsed JSON answer. */
export async function rawRequest(kc: KubeConfig, req: RawRequest): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const options: https.RequestOptions = {
    method: req.method,
    headers: {
      Accept: 'application/json',
      ...(payload === undefined ? {} : { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': payload.length }),
    },
  };
  // Sets the agent (TLS material, proxy), the Authorization header and basic auth as the client library does.
  await kc.applyToHTTPSOptions(options);
  if (cluster.proxyUrl === undefined) options.agent = keepAliveAgent(kc, url.protocol);
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
          reject(new HttpStatusError(code, text));
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
