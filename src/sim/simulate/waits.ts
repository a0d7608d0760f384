// What a simulation waits for in wall time: every job finished (with a progress line about once a
// second), then every GPU back at default clocks once the ranks of those jobs went Idle.
import { RANKS, type KubeApi } from '../../kube/client.ts';
import type { SimulatedGpu } from '../../nvml/simulated-gpu.ts';
import type { EnergySampler } from './energy-sampler.ts';
import { jobKey, type JobTracker } from './job-tracker.ts';
import type { VirtualTime } from './virtual-time.ts';

const POLL_MS = 50;
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, POLL_MS));

export interface JobsWait {
  readonly tracker: JobTracker;
  readonly energy: EnergySampler;
  readonly time: VirtualTime;
  /** performance.now() past which the simulation gives up. */
  readonly deadlineMs: number;
  /** For the error message. */
  readonly timeoutMs: number;
  /** Training iterations per job (for the progress line). */
  readonly iterations: number;
  readonly onProgress: ((line: string) => void) | undefined;
}

/** Resolves when every job has Succeeded or Failed; throws past the deadline. */
export async function waitForJobs(o: JobsWait): Promise<void> {
  let lastProgress = 0;
  for (;;) {
    if (o.tracker.allFinished()) return;
    if (performance.now() > o.deadlineMs) throw new Error(`the simulation did not finish within ${Math.round(o.timeoutMs / 1000)} s`);
    if (performance.now() - lastProgress >= 1000 && o.onProgress !== undefined) {
      lastProgress = performance.now();
      const last = o.energy.last;
      o.onProgress(`t=${o.time.nowSeconds().toFixed(0).padStart(5)} s  ${o.tracker.progress(o.iterations)}  power ${((last?.[2] ?? 0) / 1000).toFixed(2)} kW  energy ${((last?.[1] ?? 0) / 1e6).toFixed(3)} MJ`);
    }
    await pause();
  }
}

/**
 * Every rank goes Idle once its job finished; the agents then reset the clocks. Waits for that (at most
 * `withinMs` of wall time) and returns the UUIDs of the GPUs still locked.
 */
export async function waitForClockReset(api: KubeApi, gpus: readonly SimulatedGpu[], tracker: JobTracker, withinMs = 30_000): Promise<string[]> {
  const resetBy = performance.now() + withinMs;
  for (;;) {
    const locked = gpus.filter((g) => g.lockedGpuClockMhz() !== undefined).map((g) => g.uuid);
    const ranks = await api.list(RANKS, undefined);
    const busy = ranks.items.filter((r) => tracker.jobs.has(jobKey(r.metadata.namespace ?? '', String((r['spec'] as { jobName?: string }).jobName))) && (r['spec'] as { mode?: string }).mode !== 'Idle');
    if ((locked.length === 0 && busy.length === 0) || performance.now() > resetBy) return locked;
    await pause();
  }
}
