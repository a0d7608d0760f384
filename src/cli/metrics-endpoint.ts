// The metrics endpoint flags shared by `perseus controller` and `perseus agent`: --metrics-port,
// --metrics-secure and --metrics-cert-dir, turned into the options of src/kube/metrics-server.ts.
import { statSync } from 'node:fs';
import type { KubeConnection } from '../kube/kubeconfig.ts';
import { KubeAccessReviewer, MetricsAuthorizer } from '../kube/metrics-auth.ts';
import type { MetricsServerOptions } from '../kube/metrics-server.ts';
import { boolFlag, FlagError, intFlag } from './flags.ts';

export const METRICS_FLAG_SPEC = {
  'metrics-port': { type: 'string' },
  'metrics-secure': { type: 'string' },
  'metrics-cert-dir': { type: 'string' },
} as const;

/** Help lines of the three flags, with the component's default port. */
export function metricsFlagsHelp(defaultPort: number, indent: number): string {
  const pad = (flag: string): string => `  ${flag.padEnd(indent)}`;
  return [
    `${pad('--metrics-port N')}/metrics (default ${defaultPort}; 0 disables)`,
    `${pad('--metrics-secure=BOOL')}true (default): HTTPS, each scrape authorized with TokenReview +`,
    `${' '.repeat(indent + 2)}SubjectAccessReview (get on the non-resource URL /metrics); false: plain HTTP,`,
    `${' '.repeat(indent + 2)}for clusters that restrict the port with a NetworkPolicy instead`,
    `${pad('--metrics-cert-dir DIR')}tls.crt and tls.key to serve (re-read when renewed); default: a self-signed`,
    `${' '.repeat(indent + 2)}certificate generated at start-up`,
    '',
  ].join('\n');
}

/**
 * The metrics endpoint options (without the source), or undefined when --metrics-port is 0. `connection`
 * is called only when the endpoint is secure (the reviews need API access); without one (a standalone
 * agent) the endpoint is plain unless --metrics-secure=true asks for what cannot work. `otherPort` must differ.
 */
export function metricsEndpointOptions(
  values: { 'metrics-port'?: string | undefined; 'metrics-secure'?: string | undefined; 'metrics-cert-dir'?: string | undefined },
  defaults: { port: number; otherPort?: { flag: string; port: number } },
  connection: (() => KubeConnection) | undefined,
): Omit<MetricsServerOptions, 'source' | 'onError'> | undefined {
  const port = intFlag('metrics-port', values['metrics-port'], defaults.port, 0, 65535);
  const secure = boolFlag('metrics-secure', values['metrics-secure'], connection !== undefined);
  if (secure && connection === undefined) throw new FlagError('--metrics-secure: true needs an API server for TokenReview and SubjectAccessReview; without one use --metrics-secure=false');
  const certDir = values['metrics-cert-dir'];
  if (port === 0) return undefined;
  const other = defaults.otherPort;
  if (other !== undefined && other.port === port) throw new FlagError(`--metrics-port: must differ from --${other.flag} (both ${port})`);
  if (certDir !== undefined) {
    if (!secure) throw new FlagError('--metrics-cert-dir: only with --metrics-secure=true (plain HTTP serves no certificate)');
    let isDir = false;
    try {
      isDir = statSync(certDir).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new FlagError(`--metrics-cert-dir: expected a directory holding tls.crt and tls.key, got "${certDir}"`);
  }
  if (!secure || connection === undefined) return { port };
  return { port, secure: { authorizer: new MetricsAuthorizer(new KubeAccessReviewer(connection())), tls: certDir === undefined ? {} : { certDir } } };
}
