// Structural OpenAPI v3 schemas of CustomResourceDefinitions: pruning of unknown fields, defaulting and
// validation with the messages of the real apiextensions-apiserver; x-kubernetes-validations (CEL) are in schema-cel.ts.
import { fieldErrors, type FieldError } from './errors.ts';
import { clone, deepEqual, isObject, type Json, type JsonObject } from './json.ts';

/** The subset of JSONSchemaProps that structural schemas use. */
export interface Schema {
  type?: string;
  description?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: Json[];
  default?: Json;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** The JSON path of `key` under `base` (`spec.foo`). */
export function joinPath(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

const metadataFields = new Set(['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields']);

/**
 * Removes fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields) and returns
 * their paths (`spec.foo`), which strict field validation reports.
 */
export function prune(value: Json, schema: Schema | undefined, path: string, unknown: string[], isRoot = false): Json {
  if (schema === undefined) return value;
  if (isObject(value)) {
    const embedded = schema['x-kubernetes-embedded-resource'] === true || isRoot;
    const out: JsonObject = {};
    for (const [key, child] of Object.entries(value)) {
      const childPath = joinPath(path, key);
      if (embedded && (key === 'apiVersion' || key === 'kind')) {
        out[key] = child;
      } else if (embedded && key === 'metadata') {
        out[key] = pruneMetadata(child, childPath, unknown);
      } else if (schema.properties?.[key] !== undefined) {
        out[key] = prune(child, schema.properties[key], childPath, unknown);
      } else if (isObject(schema.additionalProperties)) {
        out[key] = prune(child, schema.additionalProperties, childPath, unknown);
      } else if (schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties === true) {
        out[key] = child;
      } else {
        unknown.push(childPath);
      }
    }
    return out;
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => prune(item, schema.items, `${path}[${i}]`, unknown));
  }
  return value;
}

function pruneMetadata(value: Json, path: string, unknown: string[]): Json {
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (metadataFields.has(key)) out[key] = child;
    else unknown.push(joinPath(path, key));
  }
  return out;
}

/** Applies `default`s for absent properties, top down, returning a new value. */
export function applyDefaults(value: Json, schema: Schema | undefined): Json {
  if (schema === undefined) return value;
  if (isObject(value)) {
    const out: JsonObject = { ...value };
    for (const [key, propSchema] of Object.entries(schema.properties ?? {})) {
      if ((out[key] === undefined || (out[key] === null && propSchema.nullable !== true)) && propSchema.default !== undefined) out[key] = clone(propSchema.default);
      const child = out[key];
      if (child !== undefined) out[key] = applyDefaults(child, propSchema);
    }
    if (isObject(schema.additionalProperties)) {
      for (const key of Object.keys(out)) {
        if (schema.properties?.[key] !== undefined) continue;
        const child = out[key];
        if (child !== undefined) out[key] = applyDefaults(child, schema.additionalProperties);
      }
    }
    return out;
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    return value.map((item) => applyDefaults(item, items));
  }
  return value;
}

function jsonType(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(value: Json, schema: Schema): boolean {
  if (schema['x-kubernetes-int-or-string'] === true) return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
  switch (schema.type) {
    case undefined:
    case '':
      return true;
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

const formats: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  uuid: /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/,
  byte: /^[A-Za-z0-9+/]*={0,2}$/,
};

/** Validates `value` against `schema`, appending field errors with the real server's wording. */
export function validateValue(value: Json | undefined, schema: Schema, path: string, errors: FieldError[]): void {
  if (value === undefined) return;
  if (value === null) {
    if (schema.nullable === true) return;
    if (schema.type !== undefined && schema.type !== '' && schema['x-kubernetes-int-or-string'] !== true) {
      errors.push(fieldErrors.typeInvalid(path, 'null', `${path} in body must be of type ${schema.type}: "null"`));
    }
    return;
  }
  if (!typeMatches(value, schema)) {
    const expected = schema['x-kubernetes-int-or-string'] === true ? 'integer,string' : (schema.type ?? '');
    const actual = jsonType(value);
    errors.push(fieldErrors.typeInvalid(path, actual, `${path} in body must be of type ${expected}: "${actual}"`));
    return;
  }
  if (schema.enum !== undefined && !schema.enum.some((e) => deepEqual(e, value))) {
    errors.push(fieldErrors.notSupported(path, value, schema.enum));
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined) {
      if (schema.exclusiveMinimum === true ? value <= schema.minimum : value < schema.minimum) {
        errors.push(fieldErrors.invalid(path, value, `${path} in body should be greater than ${schema.exclusiveMinimum === true ? '' : 'or equal to '}${schema.minimum}`));
      }
    }
    if (schema.maximum !== undefined) {
      if (schema.exclusiveMaximum === true ? value >= schema.maximum : value > schema.maximum) {
        errors.push(fieldErrors.invalid(path, value, `${path} in body should be less than ${schema.exclusiveMaximum === true ? '' : 'or equal to '}${schema.maximum}`));
      }
    }
    if (schema.multipleOf !== undefined && schema.multipleOf > 0 && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) {
      errors.push(fieldErrors.invalid(path, value, `${path} in body should be a multiple of ${schema.multipleOf}`));
    }
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push(fieldErrors.tooLong(path, schema.maxLength));
    if (schema.minLength !== undefined && length < schema.minLength) {
      errors.push(fieldErrors.invalid(path, value, `${path} in body should be at least ${schema.minLength} chars long`));
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      errors.push(fieldErrors.invalid(path, value, `${path} in body should match '${schema.pattern}'`));
    }
    const format = schema.format === undefined ? undefined : formats[schema.format];
    if (format !== undefined && !format.test(value)) {
      errors.push(fieldErrors.invalid(path, value, `${path} in body must be of type ${schema.format}: ${JSON.stringify(value)}`));
    }
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(fieldErrors.tooMany(path, value.length, schema.maxItems));
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors.push(fieldErrors.invalid(path, value.length, `${path} in body should have at least ${schema.minItems} items`));
    }
    if (schema.items !== undefined) {
      const items = schema.items;
      value.forEach((item, i) => validateValue(item, items, `${path}[${i}]`, errors));
    }
    validateListType(value, schema, path, errors);
  }
  if (isObject(value)) {
    for (const name of schema.required ?? []) {
      if (value[name] === undefined) errors.push(fieldErrors.required(joinPath(path, name), ''));
    }
    const count = Object.keys(value).length;
    if (schema.maxProperties !== undefined && count > schema.maxProperties) errors.push(fieldErrors.tooMany(path, count, schema.maxProperties));
    if (schema.minProperties !== undefined && count < schema.minProperties) {
      errors.push(fieldErrors.invalid(path, count, `${path} in body should have at least ${schema.minProperties} properties`));
    }
    for (const [key, child] of Object.entries(value)) {
      const propSchema = schema.properties?.[key] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (propSchema !== undefined) validateValue(child, propSchema, joinPath(path, key), errors);
    }
  }
  for (const sub of schema.allOf ?? []) validateValue(value, { ...sub, type: sub.type ?? '' }, path, errors);
  if (schema.anyOf !== undefined && !schema.anyOf.some((sub) => collect(value, sub, path).length === 0)) {
    errors.push(fieldErrors.invalid(path, value, `${path} in body must validate at least one schema (anyOf)`));
  }
  if (schema.oneOf !== undefined && schema.oneOf.filter((sub) => collect(value, sub, path).length === 0).length !== 1) {
    errors.push(fieldErrors.invalid(path, value, `${path} in body must validate one and only one schema (oneOf)`));
  }
  if (schema.not !== undefined && collect(value, schema.not, path).length === 0) {
    errors.push(fieldErrors.invalid(path, value, `${path} in body should not validate the given schema`));
  }
}

function collect(value: Json, schema: Schema, path: string): FieldError[] {
  const errors: FieldError[] = [];
  validateValue(value, schema, path, errors);
  return errors;
}

function validateListType(value: Json[], schema: Schema, path: string, errors: FieldError[]): void {
  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'set' || schema.uniqueItems === true) {
    value.forEach((item, i) => {
      if (value.findIndex((other) => deepEqual(other, item)) !== i) errors.push(fieldErrors.duplicate(`${path}[${i}]`, item));
    });
  } else if (listType === 'map') {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      if (!isObject(item)) return;
      const id = JSON.stringify(keys.map((k) => item[k] ?? null));
      if (seen.has(id)) {
        const keyObject: JsonObject = {};
        for (const k of keys) keyObject[k] = item[k] ?? null;
        errors.push(fieldErrors.duplicate(`${path}[${i}]`, keyObject));
      }
      seen.add(id);
    });
  }
}

/** As the real server: every key of a `map` list must be required in the items or have a default. */
export function checkListMapKeys(schema: Schema | undefined, path: string, errors: FieldError[]): void {
  if (schema === undefined) return;
  if (schema['x-kubernetes-list-type'] === 'map' && schema.items !== undefined) {
    const required = new Set(schema.items.required ?? []);
    for (const key of schema['x-kubernetes-list-map-keys'] ?? []) {
      const prop = schema.items.properties?.[key];
      if (!required.has(key) && prop?.default === undefined) {
        errors.push(fieldErrors.required(`${path}.items.properties[${key}].default`, 'this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property'));
      }
    }
  }
  for (const [key, child] of Object.entries(schema.properties ?? {})) checkListMapKeys(child, `${path}.properties[${key}]`, errors);
  if (schema.items !== undefined) checkListMapKeys(schema.items, `${path}.items`, errors);
  if (isObject(schema.additionalProperties)) checkListMapKeys(schema.additionalProperties as Schema, `${path}.additionalProperties`, errors);
}
