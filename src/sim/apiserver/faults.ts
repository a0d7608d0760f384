// Fault injection for tests: failing matching requests with a status code (once, n times or always),
// dropping or stalling open watches, and compacting history so that old resourceVersions get 410.
import { ApiError, internalError, notFound, tooManyRequests } from './errors.ts';
import type { Store } from './store.ts';
import type { ActiveWatch } from './watch-stream.ts';

/** The verbs a request can have (as in audit logs and RBAC). */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'discovery';

/** Describes one request for fault matching. */
export interface RequestInfo {
  verb: Verb;
  method: string;
  path: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Which requests a fault applies to: every given field must match. */
export interface RequestMatcher {
  verb?: Verb | Verb[];
  /** Exact path, or a pattern tested against the path (without query). */
  path?: string | RegExp;
  /** Plural resource name, e.g. `pods`. */
  resource?: string;
  namespace?: string;
  name?: string;
}

export interface Failure {
  match: RequestMatcher;
  code: number;
  remaining: number;
}

/** Fault hooks for tests. */
export interface Faults {
  /** Fails the next `times` (default 1) matching requests with `code` (410, 429, 500, 503, ...). */
  failNext(match: RequestMatcher, code: number, times?: number): void;
  /** Fails every matching request with `code` until `clear()`. */
  failAlways(match: RequestMatcher, code: number): void;
  /** Closes matching open watches (the client sees the stream end); returns how many. */
  dropWatches(match?: RequestMatcher): number;
  /** Stops delivering events to matching open watches (connection stays open); returns a resume function. */
  stallWatches(match?: RequestMatcher): () => void;
  /** Compacts history: any watch or continue token from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Removes all failure rules and resumes stalled watches. */
  clear(): void;
}

export function matches(m: RequestMatcher, info: RequestInfo): boolean {
  if (m.verb !== undefined && !(Array.isArray(m.verb) ? m.verb.includes(info.verb) : m.verb === info.verb)) return false;
  if (m.path !== undefined && !(typeof m.path === 'string' ? m.path === info.path : m.path.test(info.path))) return false;
  if (m.resource !== undefined && m.resource !== info.resource) return false;
  if (m.namespace !== undefined && m.namespace !== info.namespace) return false;
  if (m.name !== undefined && m.name !== info.name) return false;
  return true;
}

/** The error an injected fault answers with (a 410 names the compacted resourceVersion). */
export function statusForCode(code: number, info: RequestInfo, store: Store): ApiError {
  switch (code) {
    case 410:
      return store.tooOld(Math.max(0, store.compactedRv - 1));
    case 429:
      return tooManyRequests(1);
    case 404:
      return notFound('', info.resource ?? '', info.name ?? '');
    case 500:
      return internalError('injected fault');
    case 503:
      return new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    case 409:
      return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${info.resource ?? ''} "${info.name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`);
    default:
      return new ApiError(code, 'InternalError', `injected fault ${code}`);
  }
}

/** A stalled watch delivers what it held back and continues. */
function resume(w: ActiveWatch): void {
  w.stalled = false;
  const lines = w.buffered.splice(0);
  if (lines.length > 0 && !w.res.writableEnded) w.res.write(lines.join(''));
}

/** The failure rules and watch faults of one server. */
export class FaultInjector {
  private readonly failures: Failure[] = [];

  constructor(
    private readonly store: Store,
    private readonly watches: ReadonlySet<ActiveWatch>,
  ) {}

  readonly faults: Faults = {
    failNext: (match, code, times = 1) => {
      this.failures.push({ match, code, remaining: times });
    },
    failAlways: (match, code) => {
      this.failures.push({ match, code, remaining: Infinity });
    },
    dropWatches: (match) => {
      let n = 0;
      for (const w of [...this.watches]) {
        if (match === undefined || matches(match, w.info)) {
          w.close();
          n++;
        }
      }
      return n;
    },
    stallWatches: (match) => {
      const stalled = [...this.watches].filter((w) => match === undefined || matches(match, w.info));
      for (const w of stalled) w.stalled = true;
      return () => {
        for (const w of stalled) resume(w);
      };
    },
    compact: () => this.store.compact(),
    clear: () => {
      this.failures.splice(0);
      for (const w of this.watches) resume(w);
    },
  };

  /** The fault rule that applies to a request, counted as used. */
  take(info: RequestInfo): Failure | undefined {
    const index = this.failures.findIndex((f) => f.remaining > 0 && matches(f.match, info));
    if (index < 0) return undefined;
    const f = this.failures[index];
    if (f === undefined) return undefined;
    f.remaining -= 1;
    if (f.remaining <= 0) this.failures.splice(index, 1);
    return f;
  }
}
