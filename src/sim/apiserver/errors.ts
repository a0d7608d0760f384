// API errors as the real server reports them: a metav1.Status body with reason, code and field causes.
// Everything that rejects a request throws an ApiError; the HTTP layer serializes it once.

/** One cause of a Status (`details.causes[]`), e.g. a field that failed validation. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** The `details` of a Status: what the error is about. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A metav1.Status object, as sent in error responses and watch ERROR events. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A request failure carrying the Status the client receives. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    /** Extra HTTP response headers (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toStatus(): Status {
    const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details !== undefined) {
      const details = { ...this.details };
      if (details.group === '') delete details.group;
      status.details = details;
    }
    return status;
  }
}

/** What a resource error refers to: group and kind (or plural resource for not found) and name. */
export interface Qualified {
  group: string;
  /** The resource as the message names it: plural for NotFound/AlreadyExists/Conflict, Kind for Invalid. */
  resource: string;
  name: string;
}

function qualifiedResource(group: string, resource: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

export function notFound(group: string, plural: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(group, plural)} "${name}" not found`, { name, group, kind: plural });
}

export function alreadyExists(group: string, plural: string, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(group, plural)} "${name}" already exists`, { name, group, kind: plural });
}

export function conflict(group: string, plural: string, name: string, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": ${why}`, { name, group, kind: plural });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message, {});
}

export function unsupportedMediaType(accepted: readonly string[]): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`, {});
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function tooManyRequests(retryAfterSeconds = 1): ApiError {
  return new ApiError(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds }, { 'Retry-After': String(retryAfterSeconds) });
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: '', message }] });
}

export function notAcceptable(message: string): ApiError {
  return new ApiError(406, 'NotAcceptable', message);
}

/** A field validation error (k8s.io/apimachinery/pkg/util/validation/field.Error). */
export interface FieldError {
  /** `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ... */
  reason: string;
  /** Dotted path with indices, e.g. `spec.stages` or `spec.items[0].name`. */
  field: string;
  /** The full text, e.g. `spec.stages: Invalid value: 0: spec.stages in body should be ...`. */
  message: string;
}

/** Formats a value the way field errors print it (Go `%v` for numbers, `%q` for strings). */
/** A value kube-apiserver prints with Go's %#v (a struct literal), printed as given. */
export class GoValue {
  constructor(readonly text: string) {}
}

export function formatValue(value: unknown): string {
  if (value instanceof GoValue) return value.text;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'null';
  return JSON.stringify(value);
}

export const fieldErrors = {
  invalid(field: string, value: unknown, detail: string): FieldError {
    return { reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${formatValue(value)}${detail === '' ? '' : `: ${detail}`}` };
  },
  typeInvalid(field: string, value: unknown, detail: string): FieldError {
    return { reason: 'FieldValueTypeInvalid', field, message: `${field}: Invalid value: ${formatValue(value)}: ${detail}` };
  },
  required(field: string, detail = ''): FieldError {
    return { reason: 'FieldValueRequired', field, message: `${field}: Required value${detail === '' ? '' : `: ${detail}`}` };
  },
  notSupported(field: string, value: unknown, supported: readonly unknown[]): FieldError {
    const list = supported.map((v) => formatValue(v)).join(', ');
    return { reason: 'FieldValueNotSupported', field, message: `${field}: Unsupported value: ${formatValue(value)}: supported values: ${list}` };
  },
  tooLong(field: string, max: number): FieldError {
    return { reason: 'FieldValueTooLong', field, message: `${field}: Too long: may not be longer than ${max}` };
  },
  tooMany(field: string, actual: number, max: number): FieldError {
    return { reason: 'FieldValueTooMany', field, message: `${field}: Too many: ${actual}: must have at most ${max} items` };
  },
  forbidden(field: string, detail: string): FieldError {
    return { reason: 'FieldValueForbidden', field, message: `${field}: Forbidden: ${detail}` };
  },
  duplicate(field: string, value: unknown): FieldError {
    return { reason: 'FieldValueDuplicate', field, message: `${field}: Duplicate value: ${formatValue(value)}` };
  },
};

/** The 422 Invalid error: `Kind.group "name" is invalid: <errors>`. */
export function invalid(group: string, kind: string, name: string, errors: readonly FieldError[]): ApiError {
  const qualified = group === '' ? kind : `${kind}.${group}`;
  const text = errors.length === 1 ? (errors[0]?.message ?? '') : `[${errors.map((e) => e.message).join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualified} "${name}" is invalid: ${text}`, {
    name,
    group,
    kind,
    causes: errors.map((e) => ({ reason: e.reason, message: e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message, field: e.field })),
  });
}
