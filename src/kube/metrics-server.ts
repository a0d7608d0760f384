// The /metrics endpoint of the controller and the node agent: HTTPS with TokenReview + SubjectAccessReview
// per scrape (src/kube/metrics-auth.ts), or plain HTTP where a NetworkPolicy guards it instead. The TLS
// certificate is a mounted one (--metrics-cert-dir: tls.crt, tls.key, re-read when they change, as
// cert-manager renews them) or, without one, a self-signed certificate generated at start-up.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { MetricsAuthorizer } from './metrics-auth.ts';
import { generateSelfSignedCertificate, type CertificatePem } from './self-signed-cert.ts';

/** What the endpoint serves: a prom-client Registry fits. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Where the serving certificate comes from. */
export interface MetricsTlsSource {
  /** Directory with tls.crt and tls.key (a kubernetes.io/tls Secret or a cert-manager Certificate's Secret). */
  readonly certDir?: string;
  /** Extra subjectAltNames of the self-signed certificate (the host name, localhost and loopback are always in). */
  readonly altNames?: readonly string[];
}

export interface MetricsServerOptions {
  readonly port: number;
  /** Address to listen on (default: every IPv4 and IPv6 address). */
  readonly host?: string;
  readonly source: MetricsSource;
  /** HTTPS with per-request authorization; undefined: plain HTTP, no authorization. */
  readonly secure?: { readonly authorizer: MetricsAuthorizer; readonly tls: MetricsTlsSource };
  /** Called for requests refused with 500 (API server unreachable) and for certificate reload failures. */
  readonly onError?: (message: string, err: unknown) => void;
  /** How often a mounted certificate is checked for renewal (ms; default 60 s). */
  readonly certReloadMs?: number;
}

/** A listening metrics server. */
export interface MetricsServer {
  readonly port: number;
  readonly secure: boolean;
  /** The certificate served (PEM), when secure. */
  readonly certificatePem: string | undefined;
  close(): Promise<void>;
}

const METRICS_PATH = '/metrics';

/** Reads tls.crt and tls.key from `dir`; the error names the flag and the files expected. */
export function readCertDir(dir: string): CertificatePem {
  try {
    return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
  } catch (err) {
    throw new Error(`--metrics-cert-dir ${dir}: expected tls.crt and tls.key (PEM) there: ${(err as Error).message}`, { cause: err });
  }
}

/** The certificate to serve: the mounted one, else a fresh self-signed one. */
export function loadServingCertificate(tls: MetricsTlsSource): CertificatePem {
  if (tls.certDir !== undefined) return readCertDir(tls.certDir);
  const host = hostname();
  return generateSelfSignedCertificate({ commonName: host, altNames: [...new Set([host, 'localhost', '127.0.0.1', '::1', ...(tls.altNames ?? [])])] });
}

function handler(o: MetricsServerOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const serve = (): void => {
      if (path !== METRICS_PATH) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      o.source.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.source.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
      );
    };
    if (o.secure === undefined) {
      serve();
      return;
    }
    // Every path is authorized first (as controller-runtime's filter does), so nothing is learnt without a token.
    o.secure.authorizer.check(req.headers.authorization, req.method ?? 'GET', path).then(
      (access) => {
        if (access.status === 200) serve();
        else {
          if (access.status === 500) o.onError?.(access.message, access.cause);
          res.writeHead(access.status, { 'content-type': 'text/plain' }).end(`${access.message}\n`);
        }
      },
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
    );
  };
}

/** Starts the metrics server; rejects when the port is taken or the certificate cannot be loaded. */
export async function serveMetrics(o: MetricsServerOptions): Promise<MetricsServer> {
  let pem: CertificatePem | undefined;
  let server: Server | HttpsServer;
  let reload: NodeJS.Timeout | undefined;
  if (o.secure === undefined) {
    server = createHttpServer(handler(o));
  } else {
    const tls = o.secure.tls;
    pem = loadServingCertificate(tls);
    let https: HttpsServer;
    try {
      https = createHttpsServer({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' }, handler(o));
    } catch (err) {
      throw new Error(`--metrics-cert-dir ${tls.certDir ?? ''}: tls.crt and tls.key are not a PEM certificate and its key: ${(err as Error).message}`, { cause: err });
    }
    server = https;
    if (tls.certDir !== undefined) {
      const dir = tls.certDir;
      reload = setInterval(() => {
        try {
          const next = readCertDir(dir);
          if (next.cert === pem?.cert && next.key === pem.key) return;
          https.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
          pem = next;
        } catch (err) {
          // Half-written files during a renewal: keep serving the previous certificate and try again.
          o.onError?.('Failed to reload the metrics certificate', err);
        }
      }, o.certReloadMs ?? 60_000);
      reload.unref();
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    // Without a host: every address, IPv6 too (single-stack IPv6 clusters).
    if (o.host === undefined) server.listen(o.port, listening);
    else server.listen(o.port, o.host, listening);
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : o.port,
    secure: o.secure !== undefined,
    get certificatePem() {
      return pem?.cert;
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(reload);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
