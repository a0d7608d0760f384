// A tiny schema DSL: each builder returns a structural OpenAPI v3 node (what a CRD embeds) and carries the
// TypeScript type of the values it accepts, so the CRD YAML, the runtime validator and the types come
// from one definition.

/** One CEL rule (`x-kubernetes-validations`). The message names the field it is about. */
export interface ValidationRule {
  readonly rule: string;
  readonly message: string;
  /** Kubernetes reason (documentation only: not emitted, the field needs Kubernetes 1.28). */
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The subset of `JSONSchemaProps` (apiextensions.k8s.io/v1) the API uses. Field order is the YAML order. */
export interface OpenApiSchema {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: readonly (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, OpenApiSchema>;
  required?: readonly string[];
  items?: OpenApiSchema;
  additionalProperties?: OpenApiSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: readonly string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: readonly ValidationRule[];
}

/**
 * A schema node that accepts values of type `T`; `V` is the type once schema defaults are filled in, and
 * `D` says whether this node has a default (so a defaulted parent always holds it).
 */
export interface Schema<T, V = T, D extends boolean = false> {
  readonly openapi: OpenApiSchema;
  /** Phantom: never set; carries the value type. */
  readonly __type?: T;
  /** Phantom: never set; carries the defaulted value type. */
  readonly __defaulted?: V;
  /** Phantom: never set; carries whether the node has a default. */
  readonly __hasDefault?: D;
}

type AnySchema = Schema<unknown, unknown, boolean>;

export type Infer<S> = S extends Schema<infer T, unknown, boolean> ? T : never;

/** The type of a value after `applyDefaults`: every property with a schema default is present. */
export type InferDefaulted<S> = S extends Schema<unknown, infer V, boolean> ? V : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ObjectType<P extends Record<string, AnySchema>, R extends keyof P> = Simplify<
  { readonly [K in R]: Infer<P[K]> } & { readonly [K in Exclude<keyof P, R>]?: Infer<P[K]> }
>;

type DefaultedKeys<P extends Record<string, AnySchema>> = { [K in keyof P]: P[K] extends Schema<unknown, unknown, true> ? K : never }[keyof P];

type DefaultedObjectType<P extends Record<string, AnySchema>, R extends keyof P> = Simplify<
  { readonly [K in R | DefaultedKeys<P>]: InferDefaulted<P[K]> } & { readonly [K in Exclude<keyof P, R | DefaultedKeys<P>>]?: InferDefaulted<P[K]> }
>;

interface Common<T> {
  readonly default?: T;
  readonly rules?: readonly ValidationRule[];
}

function node(description: string, props: OpenApiSchema, common: Common<unknown> = {}): OpenApiSchema {
  const out: OpenApiSchema = { description, ...props };
  if (common.default !== undefined) out.default = common.default;
  // `reason` and `fieldPath` need Kubernetes 1.28; messages name the field instead so 1.26 accepts the CRDs.
  if (common.rules !== undefined && common.rules.length > 0) out['x-kubernetes-validations'] = common.rules.map(({ rule, message }) => ({ rule, message }));
  return out;
}

type StrOpts<E extends string> = Common<E> & { enum?: readonly E[]; pattern?: string; minLength?: number; maxLength?: number; format?: string };

/** A string, optionally an enum. */
export function str<const E extends string = string>(description: string, opts: StrOpts<E> & { default: E }): Schema<E, E, true>;
export function str<const E extends string = string>(description: string, opts?: StrOpts<E>): Schema<E>;
export function str<const E extends string = string>(description: string, opts: StrOpts<E> = {}): Schema<E, E, boolean> {
  const props: OpenApiSchema = { type: 'string' };
  if (opts.format !== undefined) props.format = opts.format;
  if (opts.enum !== undefined) props.enum = opts.enum;
  if (opts.minLength !== undefined) props.minLength = opts.minLength;
  if (opts.maxLength !== undefined) props.maxLength = opts.maxLength;
  if (opts.pattern !== undefined) props.pattern = opts.pattern;
  return { openapi: node(description, props, opts) };
}

type IntOpts = Common<number> & { minimum?: number; maximum?: number };

/** An integer within [minimum, maximum]. */
export function int(description: string, opts: IntOpts & { default: number }): Schema<number, number, true>;
export function int(description: string, opts?: IntOpts): Schema<number>;
export function int(description: string, opts: IntOpts = {}): Schema<number, number, boolean> {
  const props: OpenApiSchema = { type: 'integer', format: 'int32' };
  if (opts.minimum !== undefined) props.minimum = opts.minimum;
  if (opts.maximum !== undefined) props.maximum = opts.maximum;
  return { openapi: node(description, props, opts) };
}

type NumOpts = Common<number> & { minimum?: number; maximum?: number; exclusiveMinimum?: boolean };

/** A number within bounds (`exclusiveMinimum` makes the minimum itself invalid). */
export function num(description: string, opts: NumOpts & { default: number }): Schema<number, number, true>;
export function num(description: string, opts?: NumOpts): Schema<number>;
export function num(description: string, opts: NumOpts = {}): Schema<number, number, boolean> {
  const props: OpenApiSchema = { type: 'number', format: 'double' };
  if (opts.minimum !== undefined) props.minimum = opts.minimum;
  if (opts.exclusiveMinimum === true) props.exclusiveMinimum = true;
  if (opts.maximum !== undefined) props.maximum = opts.maximum;
  return { openapi: node(description, props, opts) };
}

export function bool(description: string, opts: Common<boolean> & { default: boolean }): Schema<boolean, boolean, true>;
export function bool(description: string, opts?: Common<boolean>): Schema<boolean>;
export function bool(description: string, opts: Common<boolean> = {}): Schema<boolean, boolean, boolean> {
  return { openapi: node(description, { type: 'boolean' }, opts) };
}

/** An RFC 3339 timestamp (a string on the wire). */
export function time(description: string): Schema<string> {
  return { openapi: node(description, { type: 'string', format: 'date-time' }) };
}

type ObjOpts<R extends string> = Common<Record<string, unknown>> & { required?: readonly R[]; preserveUnknownFields?: boolean };

/** An object with known properties; `required` lists the keys that must be present. */
export function obj<P extends Record<string, AnySchema>, const R extends keyof P & string = never>(
  description: string,
  properties: P,
  opts: ObjOpts<R> & { default: Record<string, unknown> },
): Schema<ObjectType<P, R>, DefaultedObjectType<P, R>, true>;
export function obj<P extends Record<string, AnySchema>, const R extends keyof P & string = never>(
  description: string,
  properties: P,
  opts?: ObjOpts<R>,
): Schema<ObjectType<P, R>, DefaultedObjectType<P, R>>;
export function obj<P extends Record<string, AnySchema>, const R extends keyof P & string = never>(
  description: string,
  properties: P,
  opts: ObjOpts<R> = {},
): Schema<ObjectType<P, R>, DefaultedObjectType<P, R>, boolean> {
  const props: OpenApiSchema = { type: 'object' };
  if (opts.preserveUnknownFields === true) props['x-kubernetes-preserve-unknown-fields'] = true;
  props.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v.openapi]));
  if (opts.required !== undefined && opts.required.length > 0) props.required = opts.required;
  return { openapi: node(description, props, opts) };
}

/** A list. `listMapKeys` makes it a map-list (server-side apply merges entries by these keys). */
export function arr<I, V>(
  description: string,
  items: Schema<I, V, boolean>,
  opts: Common<I[]> & { minItems?: number; maxItems?: number; listType?: 'atomic' | 'set' | 'map'; listMapKeys?: readonly string[] } = {},
): Schema<readonly I[], readonly V[]> {
  const props: OpenApiSchema = { type: 'array' };
  if (opts.minItems !== undefined) props.minItems = opts.minItems;
  if (opts.maxItems !== undefined) props.maxItems = opts.maxItems;
  if (opts.listType !== undefined) props['x-kubernetes-list-type'] = opts.listType;
  if (opts.listMapKeys !== undefined) props['x-kubernetes-list-map-keys'] = opts.listMapKeys;
  props.items = items.openapi;
  return { openapi: node(description, props, opts) };
}

/** A string-keyed map of values. */
export function mapOf<V, W>(description: string, values: Schema<V, W, boolean>): Schema<Readonly<Record<string, V>>, Readonly<Record<string, W>>> {
  return { openapi: node(description, { type: 'object', additionalProperties: values.openapi }) };
}

/** An object whose content is not described here (kept as is by the API server). */
export function opaque(description: string): Schema<Readonly<Record<string, unknown>>> {
  return { openapi: node(description, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }) };
}
