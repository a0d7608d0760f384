// Maps the Kubernetes client's failures to one error type, once, at the edge: callers branch on `code`
// (404, 409, 410, 422…) and `reason`, never on client-library classes; the original stays in `cause`.

/** A failed API call: HTTP status code, Kubernetes Status reason and message. */
export class KubeError extends Error {
  override readonly name = 'KubeError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get isNotFound(): boolean {
    return this.code === 404;
  }
  get isConflict(): boolean {
    return this.code === 409;
  }
  get isAlreadyExists(): boolean {
    return this.code === 409 && this.reason === 'AlreadyExists';
  }
  get isInvalid(): boolean {
    return this.code === 422;
  }
}

/** Converts anything thrown by the client (ApiException with a string body, fetch errors) to a KubeError. */
export function toKubeError(err: unknown, what: string): KubeError {
  if (err instanceof KubeError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const code = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : 0;
  let reason = code === 0 ? 'ConnectionFailed' : 'Unknown';
  let message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.body === 'string' && e.body !== '') {
    try {
      const status = JSON.parse(e.body) as { reason?: string; message?: string };
      if (typeof status.reason === 'string' && status.reason !== '') reason = status.reason;
      if (typeof status.message === 'string') message = status.message;
    } catch {
      message = e.body.slice(0, 500);
    }
  } else if (code === 404) reason = 'NotFound';
  else if (code === 409) reason = 'Conflict';
  return new KubeError(code, reason, `${what}: ${message}`, { cause: err });
}
