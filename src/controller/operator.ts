// Assembles a controller process: metrics, planner, events, optional leader election (only the Lease
// holder runs the controller; a replica that loses the Lease stops acting at once), and the HTTP endpoints.
import { createServer, type Server } from 'node:http';
import type { Clock } from '../kube/clock.ts';
import type { KubeApi } from '../kube/client.ts';
import { KubeEventRecorder } from '../kube/events.ts';
import { LeaderElector } from '../kube/leader.ts';
import { serveMetrics, type MetricsServer, type MetricsServerOptions } from '../kube/metrics-server.ts';
import { Controller, type ControllerOptions } from './controller.ts';
import type { Logger } from './log.ts';
import { ControllerMetrics } from './metrics.ts';
import { PlannerService } from './planner-service.ts';

export interface OperatorOptions {
  readonly api: KubeApi;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly identity: string;
  readonly namespaces?: readonly string[];
  readonly workers?: number;
  /** See ControllerOptions.nodeLostGraceMs. */
  readonly nodeLostGraceMs?: number;
  readonly leaderElection?: { readonly namespace: string; readonly name: string; readonly leaseDurationMs?: number; readonly renewDeadlineMs?: number; readonly retryPeriodMs?: number };
  /** Port for /healthz, /readyz, and /metrics unless `metricsServer` is set (0: any free port; undefined: no HTTP server). */
  readonly httpPort?: number;
  /** A separate /metrics endpoint (HTTPS with TokenReview + SubjectAccessReview when `secure`); health stays on `httpPort`. */
  readonly metricsServer?: Omit<MetricsServerOptions, 'source' | 'onError'>;
  readonly defaultMetrics?: boolean;
  readonly plannerWorkerThreshold?: number;
  readonly mintToken?: () => string;
  readonly onReconciled?: ControllerOptions['onReconciled'];
}

export class Operator {
  readonly metrics: ControllerMetrics;
  readonly planner: PlannerService;
  controller: Controller | undefined;
  private elector: LeaderElector | undefined;
  private server: Server | undefined;
  private metricsEndpoint: MetricsServer | undefined;
  private transition: Promise<void> = Promise.resolve();
  /** Times this replica started leading (tests). */
  leaderTerms = 0;

  constructor(private readonly o: OperatorOptions) {
    this.metrics = new ControllerMetrics(() => this.controller?.phaseCounts() ?? new Map(), o.defaultMetrics ?? false);
    this.planner = new PlannerService({
      ...(o.plannerWorkerThreshold === undefined ? {} : { workerThreshold: o.plannerWorkerThreshold }),
      onSolved: (seconds, points) => {
        this.metrics.solveDuration.observe(seconds);
        this.metrics.frontierPoints.observe(points);
      },
      onFailed: () => this.metrics.plannerFailures.inc(),
    });
  }

  get isLeader(): boolean {
    return this.controller !== undefined;
  }

  get port(): number | undefined {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr !== null ? addr.port : undefined;
  }

  /** The separate metrics endpoint, once started with `metricsServer`. */
  get metricsServer(): MetricsServer | undefined {
    return this.metricsEndpoint;
  }

  private startController(): void {
    this.transition = this.transition.then(async () => {
      if (this.controller !== undefined) return;
      this.leaderTerms++;
      const recorder = new KubeEventRecorder(this.o.api, this.o.clock, 'perseus-controller', this.o.identity, (err) => {
        this.metrics.eventErrors.inc();
        this.o.logger.warn('Failed to record an event', { error: (err as Error).message });
      });
      this.controller = new Controller({
        api: this.o.api,
        clock: this.o.clock,
        logger: this.o.logger,
        metrics: this.metrics,
        planner: this.planner,
        recorder,
        ...(this.o.namespaces === undefined ? {} : { namespaces: this.o.namespaces }),
        ...(this.o.workers === undefined ? {} : { workers: this.o.workers }),
        ...(this.o.nodeLostGraceMs === undefined ? {} : { nodeLostGraceMs: this.o.nodeLostGraceMs }),
        ...(this.o.mintToken === undefined ? {} : { mintToken: this.o.mintToken }),
        ...(this.o.onReconciled === undefined ? {} : { onReconciled: this.o.onReconciled }),
      });
      await this.controller.start();
    });
  }

  private stopController(): void {
    this.transition = this.transition.then(async () => {
      const c = this.controller;
      this.controller = undefined;
      await c?.stop();
    });
  }

  async start(): Promise<void> {
    if (this.o.httpPort !== undefined) await this.listen(this.o.httpPort);
    if (this.o.metricsServer !== undefined) {
      this.metricsEndpoint = await serveMetrics({
        ...this.o.metricsServer,
        source: this.metrics.registry,
        onError: (message, err) => this.o.logger.warn(message, { error: (err as Error | undefined)?.message }),
      });
    }
    const le = this.o.leaderElection;
    if (le === undefined) {
      this.startController();
      await this.transition;
      return;
    }
    this.elector = new LeaderElector(this.o.api, this.o.clock, {
      ...le,
      identity: this.o.identity,
      onStartedLeading: () => {
        this.o.logger.info('Became the leader', { identity: this.o.identity, lease: `${le.namespace}/${le.name}` });
        this.startController();
      },
      onStoppedLeading: () => {
        this.o.logger.warn('Lost the leadership; stopped acting', { identity: this.o.identity });
        this.stopController();
      },
      onError: (err) => this.o.logger.warn('Failed to renew the lease', { error: (err as Error).message }),
    });
    this.elector.start();
  }

  async stop(): Promise<void> {
    await this.elector?.stop();
    this.stopController();
    await this.transition;
    await this.planner.close();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
    this.server?.closeAllConnections();
    await this.metricsEndpoint?.close();
  }

  private listen(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else if (url === '/readyz') {
        // Ready: leading with synced caches, or standing by as a healthy replica.
        const ready = this.elector !== undefined ? !this.isLeader || (this.controller?.synced ?? false) : (this.controller?.synced ?? false);
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok' : 'not ready');
      } else if (url === '/metrics' && this.o.metricsServer === undefined) {
        this.metrics.registry
          .metrics()
          .then((text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text))
          .catch((err: Error) => res.writeHead(500).end(err.message));
      } else {
        res.writeHead(404).end();
      }
    });
    return new Promise((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, () => resolve());
    });
  }
}
