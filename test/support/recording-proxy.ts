// A plain-HTTP proxy in front of an API server (embedded or real) that records the body of every write
// passing through: tests assert on what a client SENT, whatever the server then made of it.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';

export interface RecordedWrite {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly contentType: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly body: unknown;
}

export interface RecordingProxy {
  /** Every POST, PUT and PATCH so far, in arrival order. */
  readonly writes: RecordedWrite[];
  /** `kubeconfig` with its server replaced by the proxy (the same user: tokens pass through). */
  kubeConfigFor(kubeconfig: k8s.KubeConfig): k8s.KubeConfig;
  close(): Promise<void>;
}

/** Starts a proxy forwarding to `upstream` (http or https; the upstream certificate is not verified). */
export async function startRecordingProxy(upstream: string): Promise<RecordingProxy> {
  const target = new URL(upstream);
  const writes: RecordedWrite[] = [];
  const transport = target.protocol === 'https:' ? https : http;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', target);
      if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          parsed = undefined;
        }
        writes.push({ method: req.method, path: url.pathname, query: url.searchParams, contentType: String(req.headers['content-type'] ?? ''), body: parsed });
      }
      const headers = { ...req.headers, host: target.host };
      const forward = transport.request(url, { method: req.method, headers, rejectUnauthorized: false, agent: false }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      });
      res.on('close', () => forward.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    writes,
    kubeConfigFor(kubeconfig) {
      const kc = new k8s.KubeConfig();
      const cluster = kubeconfig.getCurrentCluster();
      const user = kubeconfig.getCurrentUser();
      if (cluster === null || user === null) throw new Error('the kubeconfig has no current cluster or user');
      kc.loadFromOptions({
        clusters: [{ name: 'proxy', server: url, skipTLSVerify: true }],
        users: [{ ...user, name: 'proxy-user' }],
        contexts: [{ name: 'proxy', cluster: 'proxy', user: 'proxy-user' }],
        currentContext: 'proxy',
      });
      return kc;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
