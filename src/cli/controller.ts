// `perseus controller`: connects like every Kubernetes client (in-cluster, --kubeconfig, KUBECONFIG),
// optionally leader-elected, serving /healthz and /readyz (plain HTTP) and /metrics (HTTPS, authorized per
// scrape, unless --metrics-secure=false); stops cleanly on SIGTERM.
import { hostname } from 'node:os';
import type { Command } from './main.ts';
import { FlagError, intFlag, parseDurationSeconds, parseFlags, runCommand } from './flags.ts';
import { systemClock } from '../kube/clock.ts';
import { ClientKubeApi, loadConnection, type KubeConnection } from '../kube/client.ts';
import { DEFAULT_NODE_LOST_GRACE_MS } from '../controller/failures.ts';
import { createLogger } from '../controller/log.ts';
import { Operator } from '../controller/operator.ts';
import { METRICS_FLAG_SPEC, metricsEndpointOptions, metricsFlagsHelp } from './metrics-endpoint.ts';

const spec = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string', multiple: true },
  workers: { type: 'string' },
  'http-port': { type: 'string' },
  'node-lost-grace': { type: 'string' },
  ...METRICS_FLAG_SPEC,
  'leader-elect': { type: 'boolean' },
  'lease-namespace': { type: 'string' },
  'lease-name': { type: 'string' },
  identity: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const help = `Usage: perseus controller [flags]

Reconciles PerseusTrainingJobs: profiles, plans, runs and replans them.

Flags:
  --kubeconfig PATH        kubeconfig to use (default: in-cluster, else KUBECONFIG, else ~/.kube/config)
  --namespace NS           watch only this namespace (repeatable; default: all namespaces)
  --workers N              concurrent reconciles (default 4)
  --http-port PORT         port of /healthz, /readyz, plain HTTP (default 8080; 0 picks one)
  --node-lost-grace DUR    a pod whose Node is NotReady this long is lost: its job restarts every pod
                           (default 5m; 0 does not watch Nodes)
${metricsFlagsHelp(8443, 23)}  --leader-elect           run only while holding the Lease (for several replicas)
  --lease-namespace NS     namespace of the Lease (default: POD_NAMESPACE or default)
  --lease-name NAME        Lease name (default perseus-controller)
  --identity ID            leader election identity (default: the host name)
  --log-level LEVEL        error, warn, info or debug (default info or LOG_LEVEL)
`;

/** --node-lost-grace in ms: a duration (5m, 300s, 300) or 0, which turns the Node watch off. */
export function nodeLostGraceMs(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_NODE_LOST_GRACE_MS;
  const seconds = parseDurationSeconds(raw);
  if (seconds === undefined) throw new FlagError(`--node-lost-grace: expected a duration such as 5m, 300s or 0 (Nodes not watched), got "${raw}"`);
  return Math.round(seconds * 1000);
}

export const command: Command = {
  summary: 'Run the PerseusTrainingJob controller',
  run: (argv) =>
    runCommand('controller', async () => {
      const { values } = parseFlags(argv, spec);
      if (values.help === true) {
        process.stdout.write(help);
        return 0;
      }
      const logger = createLogger(values['log-level']);
      const httpPort = intFlag('http-port', values['http-port'], 8080, 0);
      // Loaded after the flags are checked, so that a flag error is reported as one, even without a kubeconfig.
      let connection: KubeConnection | undefined;
      const connect = (): KubeConnection => (connection ??= loadConnection(values.kubeconfig));
      const metricsServer = metricsEndpointOptions(values, { port: 8443, otherPort: { flag: 'http-port', port: httpPort } }, connect);
      const api = new ClientKubeApi(connect());
      const identity = values.identity ?? `${hostname()}-${process.pid}`;
      const operator = new Operator({
        api,
        clock: systemClock,
        logger,
        identity,
        workers: intFlag('workers', values.workers, 4),
        nodeLostGraceMs: nodeLostGraceMs(values['node-lost-grace']),
        httpPort,
        ...(metricsServer === undefined ? {} : { metricsServer }),
        defaultMetrics: true,
        ...(values.namespace === undefined ? {} : { namespaces: values.namespace }),
        ...(values['leader-elect'] === true
          ? { leaderElection: { namespace: values['lease-namespace'] ?? process.env['POD_NAMESPACE'] ?? 'default', name: values['lease-name'] ?? 'perseus-controller' } }
          : {}),
      });
      await operator.start();
      logger.info('Started perseus controller', { identity, httpPort: operator.port, metricsPort: operator.metricsServer?.port, metricsSecure: operator.metricsServer?.secure });
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      logger.info('Stopping perseus controller');
      await operator.stop();
      return 0;
    }),
};
