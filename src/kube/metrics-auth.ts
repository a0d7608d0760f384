// Authenticates and authorizes each scrape of a metrics endpoint the way controller-runtime's
// WithAuthenticationAndAuthorization filter does: the bearer token goes to a TokenReview
// (authentication.k8s.io/v1), the user it names to a SubjectAccessReview (authorization.k8s.io/v1,
// nonResourceAttributes {path, verb}); decisions are cached for a short TTL so a scrape costs no API call.
import { createHash } from 'node:crypto';
import type { KubeConnection } from './kubeconfig.ts';
import { rawRequest } from './raw-request.ts';

/** The user a token belongs to, as a TokenReview reports it. */
export interface ReviewedUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** The two reviews, behind an interface so that tests can count or fake them. */
export interface AccessReviewer {
  /** The token's user, or undefined when the API server does not authenticate it. */
  reviewToken(token: string): Promise<ReviewedUser | undefined>;
  /** Whether `user` may `verb` the non-resource URL `path`. */
  reviewAccess(user: ReviewedUser, path: string, verb: string): Promise<{ readonly allowed: boolean; readonly reason: string }>;
}

/** The answer to one request: 200 lets it through; the others carry the body to send. */
export type MetricsAccess = { readonly status: 200; readonly user: string } | { readonly status: 401 | 403 | 500; readonly message: string; readonly cause?: unknown };

/** How long decisions are kept (ms); the defaults are controller-runtime's and kube's token cache's. */
export interface AccessCacheTtls {
  readonly authenticatedMs: number;
  readonly unauthenticatedMs: number;
  readonly allowedMs: number;
  readonly deniedMs: number;
}

export const DEFAULT_ACCESS_CACHE_TTLS: AccessCacheTtls = { authenticatedMs: 60_000, unauthenticatedMs: 10_000, allowedMs: 300_000, deniedMs: 30_000 };

/** Reviews through the API server with the process's own credentials (needs `create` on both reviews). */
export class KubeAccessReviewer implements AccessReviewer {
  constructor(private readonly connection: KubeConnection) {}

  async reviewToken(token: string): Promise<ReviewedUser | undefined> {
    const review = (await rawRequest(this.connection, {
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    })) as { status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } } };
    const s = review.status;
    if (s?.authenticated !== true || s.user?.username === undefined) return undefined;
    return { username: s.user.username, ...(s.user.uid === undefined ? {} : { uid: s.user.uid }), ...(s.user.groups === undefined ? {} : { groups: s.user.groups }), ...(s.user.extra === undefined ? {} : { extra: s.user.extra }) };
  }

  async reviewAccess(user: ReviewedUser, path: string, verb: string): Promise<{ allowed: boolean; reason: string }> {
    const review = (await rawRequest(this.connection, {
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          ...(user.groups === undefined ? {} : { groups: [...user.groups] }),
          ...(user.extra === undefined ? {} : { extra: Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]])) }),
          nonResourceAttributes: { path, verb },
        },
      },
    })) as { status?: { allowed?: boolean; reason?: string } };
    return { allowed: review.status?.allowed === true, reason: review.status?.reason ?? '' };
  }
}

interface Cached<T> {
  readonly value: Promise<T>;
  expiresAtMs: number;
}

/** A small TTL cache that also shares one in-flight review between concurrent requests; bounded in size. */
class DecisionCache<T> {
  private readonly entries = new Map<string, Cached<T>>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get(key: string, load: () => Promise<T>, ttlMs: (value: T) => number): Promise<T> {
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.expiresAtMs > this.now()) return hit.value;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    const entry: Cached<T> = { value: load(), expiresAtMs: Infinity };
    this.entries.set(key, entry);
    entry.value.then(
      (value) => (entry.expiresAtMs = this.now() + ttlMs(value)),
      // Failures (API server unreachable) are not decisions: the next request asks again.
      () => this.entries.get(key) === entry && this.entries.delete(key),
    );
    return entry.value;
  }
}

/** As controller-runtime's TokenAccessReviewTimeout: a hung API server fails the scrape, not the server. */
const REVIEW_TIMEOUT_MS = 10_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Decides whether a request may read a metrics path: 401 without a valid bearer token, 403 when denied. */
export class MetricsAuthorizer {
  private readonly tokens: DecisionCache<ReviewedUser | undefined>;
  private readonly access: DecisionCache<{ allowed: boolean; reason: string }>;

  constructor(
    private readonly reviewer: AccessReviewer,
    private readonly ttls: AccessCacheTtls = DEFAULT_ACCESS_CACHE_TTLS,
    now: () => number = Date.now,
    maxEntries = 1024,
  ) {
    this.tokens = new DecisionCache(maxEntries, now);
    this.access = new DecisionCache(maxEntries, now);
  }

  /** Checks the Authorization header of a `method` request for `path` (query string ignored). */
  async check(authorization: string | undefined, method: string, path: string): Promise<MetricsAccess> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) return { status: 401, message: 'Unauthorized' };
    const token = match[1] as string;
    let user: ReviewedUser | undefined;
    try {
      user = await this.tokens.get(sha256(token), () => withTimeout(this.reviewer.reviewToken(token), REVIEW_TIMEOUT_MS, 'TokenReview'), (u) => (u === undefined ? this.ttls.unauthenticatedMs : this.ttls.authenticatedMs));
    } catch (err) {
      return { status: 500, message: 'Authentication failed', cause: err };
    }
    if (user === undefined) return { status: 401, message: 'Unauthorized' };
    const verb = method.toLowerCase();
    const key = JSON.stringify([user.username, user.uid ?? '', [...(user.groups ?? [])].sort(), user.extra ?? {}, path, verb]);
    try {
      const decision = await this.access.get(key, () => withTimeout(this.reviewer.reviewAccess(user, path, verb), REVIEW_TIMEOUT_MS, 'SubjectAccessReview'), (d) => (d.allowed ? this.ttls.allowedMs : this.ttls.deniedMs));
      return decision.allowed ? { status: 200, user: user.username } : { status: 403, message: `Authorization denied for user ${user.username}` };
    } catch (err) {
      return { status: 500, message: `Authorization for user ${user.username} failed`, cause: err };
    }
  }
}
