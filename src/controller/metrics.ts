// Prometheus metrics of the controller, all in one registry (served on /metrics).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_PHASES } from '../api/index.ts';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'perseus_controller_reconcile_total', help: 'Reconciles by result (success, error, conflict: retried on a newer object).', labelNames: ['result'], registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'perseus_controller_reconcile_errors_total', help: 'Reconciles that failed and were retried.', registers: [this.registry] });
  readonly reconcileDuration = new Histogram({
    name: 'perseus_controller_reconcile_duration_seconds',
    help: 'Time of one reconcile (observe, decide, apply).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly solveDuration = new Histogram({
    name: 'perseus_planner_solve_duration_seconds',
    help: 'Time to compute one iteration time–energy frontier.',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly frontierPoints = new Histogram({
    name: 'perseus_planner_frontier_points',
    help: 'Points on each computed frontier.',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers: [this.registry],
  });
  readonly savings = new Gauge({ name: 'perseus_job_expected_savings_ratio', help: 'Expected energy savings of the plan in force, per job.', labelNames: ['namespace', 'name'], registers: [this.registry] });
  readonly replans = new Counter({ name: 'perseus_controller_replans_total', help: 'Plan generations changed for stragglers.', registers: [this.registry] });
  readonly plannerFailures = new Counter({ name: 'perseus_planner_failures_total', help: 'Frontier solves that failed.', registers: [this.registry] });
  readonly jobPhase = new Gauge({ name: 'perseus_job_phase', help: 'The phase of each job: 1 for its current phase, 0 for the others.', labelNames: ['namespace', 'name', 'phase'], registers: [this.registry] });
  readonly jobStragglers = new Gauge({ name: 'perseus_job_stragglers', help: 'Pipelines of the job currently slower than their plan.', labelNames: ['namespace', 'name'], registers: [this.registry] });
  readonly eventErrors = new Counter({ name: 'perseus_controller_event_errors_total', help: 'Kubernetes events that could not be written.', registers: [this.registry] });

  /** Records the current phase and stragglers of one job. */
  observeJob(namespace: string, name: string, phase: string, stragglers: number): void {
    for (const p of JOB_PHASES) this.jobPhase.set({ namespace, name, phase: p }, p === phase ? 1 : 0);
    this.jobStragglers.set({ namespace, name }, stragglers);
  }

  /** Drops the series of a deleted job. */
  forgetJob(namespace: string, name: string): void {
    for (const p of JOB_PHASES) this.jobPhase.remove({ namespace, name, phase: p });
    this.jobStragglers.remove({ namespace, name });
    this.savings.remove({ namespace, name });
  }

  constructor(phaseCounts: () => ReadonlyMap<string, number>, defaults = false) {
    new Gauge({
      name: 'perseus_controller_jobs',
      help: 'PerseusTrainingJobs by phase.',
      labelNames: ['phase'],
      registers: [this.registry],
      collect() {
        const counts = phaseCounts();
        for (const phase of JOB_PHASES) this.set({ phase }, counts.get(phase) ?? 0);
      },
    });
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'perseus_controller_' });
  }
}
