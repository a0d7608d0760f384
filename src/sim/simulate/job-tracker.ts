// Follows the simulated jobs: the iterations their workers report through the fabric (profiling and
// training), and from the jobs' status on simulated time, their phases and plan generations.
import type { JobStatus } from '../../api/job.ts';
import { JOBS, type KubeApi } from '../../kube/client.ts';
import { Informer } from '../../kube/informer.ts';
import type { IterationRecord } from './fabric.ts';
import type { JobManifest } from './job.ts';
import type { VirtualTime } from './virtual-time.ts';

export interface PhaseChange {
  readonly phase: string;
  readonly atSeconds: number;
}

export interface GenerationChange {
  readonly generation: number;
  readonly atSeconds: number;
  /** Training iterations finished when the job's status named the generation. */
  readonly iteration: number;
  readonly stragglers: readonly number[];
}

/** Everything seen of one job. */
export interface TrackedJob {
  readonly profiling: IterationRecord[];
  readonly training: IterationRecord[];
  readonly phases: PhaseChange[];
  readonly generations: GenerationChange[];
  status: JobStatus | undefined;
  /** The job was deleted from the cluster (by a user) before it finished. */
  deleted: boolean;
}

export function jobKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class JobTracker {
  /** By `namespace/name`, in the order the jobs were given. */
  readonly jobs = new Map<string, TrackedJob>();
  private readonly informer: Informer;

  constructor(
    manifests: readonly JobManifest[],
    api: KubeApi,
    private readonly time: VirtualTime,
  ) {
    for (const j of manifests) this.jobs.set(jobKey(j.metadata.namespace ?? 'default', j.metadata.name), { profiling: [], training: [], phases: [], generations: [], status: undefined, deleted: false });
    this.informer = new Informer(api, time.kubeClock, { kind: JOBS, relistMs: 300_000 });
    this.informer.onChange((key, obj) => {
      if (obj !== undefined) this.statusChanged(key, obj['status'] as JobStatus | undefined);
      else this.deleted(key);
    });
  }

  start(): void {
    this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  /** The fabric's sink: an iteration of a profiling or training world `<namespace>/<job>/<role>`. */
  readonly recordIteration = (r: IterationRecord): void => {
    const [ns, job, role] = r.world.split('/') as [string, string, string];
    const tracked = this.jobs.get(jobKey(ns, job));
    if (tracked !== undefined) (role === 'profiler' ? tracked.profiling : tracked.training).push(r);
  };

  /** Every job has Succeeded or Failed, or was deleted (nothing will finish it then). */
  allFinished(): boolean {
    return [...this.jobs.values()].every((j) => j.deleted || j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed');
  }

  /** One line on every job: phase, plan generation and iterations (`iterations` is the training target). */
  progress(iterations: number): string {
    return [...this.jobs]
      .map(([key, j]) => {
        const it = j.status?.phase === 'Profiling' ? `profiling iteration ${j.profiling.length}` : `iteration ${j.training.length}/${iterations}`;
        return `${key} ${j.deleted ? 'Deleted' : (j.status?.phase ?? 'Pending')} gen ${j.status?.plan?.generation ?? 0} ${it}`;
      })
      .join('; ');
  }

  private deleted(key: string): void {
    const tracked = this.jobs.get(key);
    if (tracked === undefined) return;
    tracked.deleted = true;
    tracked.phases.push({ phase: 'Deleted', atSeconds: this.time.nowSeconds() });
  }

  private statusChanged(key: string, status: JobStatus | undefined): void {
    const tracked = this.jobs.get(key);
    if (tracked === undefined) return;
    tracked.status = status;
    const now = this.time.nowSeconds();
    if (status?.phase !== undefined && tracked.phases[tracked.phases.length - 1]?.phase !== status.phase) tracked.phases.push({ phase: status.phase, atSeconds: now });
    const g = status?.plan?.generation;
    if (g !== undefined && g > 0 && tracked.generations[tracked.generations.length - 1]?.generation !== g) {
      tracked.generations.push({ generation: g, atSeconds: now, iteration: tracked.training.length, stragglers: (status?.stragglers ?? []).map((s) => s.pipeline) });
    }
  }
}
