// Scheduling priority of the agent's event-loop thread. That one thread reads the training socket and
// calls NVML, so the time from a `begin` to the clock change is mostly the time the kernel takes to run it
// once the message arrives. On a node busy with data loaders and other daemons, a thread at the default
// nice value waits behind them for whole scheduler slices (milliseconds). A negative nice value gives it a
// larger CFS share, so it runs as soon as it wakes; it uses a few percent of one core, so it takes little.
//
// On Linux, setpriority(PRIO_PROCESS, 0) changes the calling thread only: V8's compiler and GC threads and
// the libuv threads that already exist keep their nice value. Lowering it needs CAP_SYS_NICE; without it
// the agent keeps running at the default priority and says why.
import { getPriority, setPriority } from 'node:os';

/** The agent's default: a 9× larger CPU share than a default-priority task while it is runnable. */
export const DEFAULT_EVENT_LOOP_NICE = -10;

export type NiceOutcome =
  | { readonly applied: true; readonly nice: number }
  | { readonly applied: false; readonly nice: number; readonly requested: number; readonly reason: string };

/** Checks a requested nice value: an integer in [-20, 19]. Returns an error message naming the expected form. */
export function niceError(value: number): string | undefined {
  return Number.isInteger(value) && value >= -20 && value <= 19 ? undefined : `expected an integer nice value in [-20, 19], got ${String(value)}`;
}

/**
 * Sets the calling thread's nice value (pid 0 is the calling thread on Linux). Never throws: when the kernel
 * refuses (no CAP_SYS_NICE, a value out of range, a platform without per-thread priorities) the outcome
 * carries the reason and the nice value in effect.
 */
export function setEventLoopNice(requested: number): NiceOutcome {
  try {
    setPriority(0, requested);
    return { applied: true, nice: getPriority(0) };
  } catch (err) {
    // Node reports it as a SystemError (code ERR_SYSTEM_ERROR) with the errno name in `info.code`.
    const e = err as NodeJS.ErrnoException & { info?: { code?: string } };
    const code = e.info?.code ?? e.code ?? 'error';
    const reason =
      code === 'EACCES' || code === 'EPERM'
        ? `lowering the nice value needs CAP_SYS_NICE (${code}); grant it to the agent container or set --nice 0`
        : `setpriority failed: ${(err as Error).message}`;
    return { applied: false, nice: getPriority(0), requested, reason };
  }
}
