// x-kubernetes-validations of CRD schemas: CEL rules compiled (and cached), checked at CRD creation and
// evaluated against objects with the messages of the real apiextensions-apiserver.
import { parse as parseCel } from '@marcbachmann/cel-js';
import { fieldErrors, GoValue, type FieldError } from './errors.ts';
import { deepEqual, isObject, type Json } from './json.ts';
import { joinPath, type Schema } from './schema.ts';

type CelProgram = ReturnType<typeof parseCel>;
const celCache = new Map<string, CelProgram>();

/** Compiles (and caches) a CEL expression; throws with the parser's message on a syntax error. */
export function compileCel(expression: string): CelProgram {
  let program = celCache.get(expression);
  if (program === undefined) {
    program = parseCel(expression);
    celCache.set(expression, program);
  }
  return program;
}

/** Converts a JSON value to a CEL value: integers (by schema) become BigInt. */
function toCel(value: Json, schema: Schema | undefined): unknown {
  if (value === null) return null;
  if (typeof value === 'number') {
    if (schema?.type === 'number') return value;
    return Number.isInteger(value) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) return value.map((item) => toCel(item, schema?.items));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const childSchema = schema?.properties?.[key] ?? (isObject(schema?.additionalProperties) ? schema.additionalProperties : undefined);
      out[key] = toCel(child, childSchema);
    }
    return out;
  }
  return value;
}

function referencesOldSelf(rule: string): boolean {
  return /\boldSelf\b/.test(rule);
}

/** Finds the old value correlated with a new list item (list-maps by key, sets by value). */
function correlateItem(oldList: Json | undefined, item: Json, index: number, schema: Schema): Json | undefined {
  if (!Array.isArray(oldList)) return undefined;
  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'map' && isObject(item)) {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    return oldList.find((o) => isObject(o) && keys.every((k) => deepEqual(o[k], item[k])));
  }
  if (listType === 'set') return oldList.find((o) => deepEqual(o, item));
  void index;
  return undefined;
}

/** Evaluates every x-kubernetes-validations rule under `schema` (transition rules only with an old value). */
export function validateCel(value: Json | undefined, old: Json | undefined, schema: Schema, path: string, errors: FieldError[]): void {
  if (value === undefined || value === null) return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const transition = referencesOldSelf(rule.rule);
    if (transition && old === undefined && rule.optionalOldSelf !== true) continue;
    const errPath = rule.fieldPath === undefined ? path : `${path}${rule.fieldPath.startsWith('.') || rule.fieldPath.startsWith('[') ? '' : '.'}${rule.fieldPath}`;
    const typeName = schema['x-kubernetes-int-or-string'] === true ? 'string' : (schema.type ?? 'object');
    try {
      const context: Record<string, unknown> = { self: toCel(value, schema) };
      if (transition) context['oldSelf'] = old === undefined ? null : toCel(old, schema);
      const result = compileCel(rule.rule)(context);
      if (result !== true) {
        let message = rule.message ?? `failed rule: ${rule.rule}`;
        if (rule.messageExpression !== undefined) {
          try {
            const evaluated = compileCel(rule.messageExpression)(context);
            if (typeof evaluated === 'string' && evaluated.trim() !== '') message = evaluated;
          } catch {
            // The real server falls back to the static message when messageExpression fails.
          }
        }
        switch (rule.reason) {
          case 'FieldValueForbidden':
            errors.push(fieldErrors.forbidden(errPath, message));
            break;
          case 'FieldValueRequired':
            errors.push(fieldErrors.required(errPath, message));
            break;
          case 'FieldValueDuplicate':
            errors.push({ ...fieldErrors.duplicate(errPath, typeName), message: `${errPath}: Duplicate value: ${JSON.stringify(typeName)}: ${message}` });
            break;
          default:
            errors.push(fieldErrors.invalid(errPath, typeName, message));
        }
      }
    } catch (err) {
      errors.push(fieldErrors.invalid(errPath, typeName, `rule evaluation error: ${(err as Error).message}`));
    }
  }
  if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = schema.properties?.[key] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (childSchema === undefined) continue;
      const oldChild = isObject(old) ? old[key] : undefined;
      validateCel(child, oldChild, childSchema, joinPath(path, key), errors);
    }
  } else if (Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    value.forEach((item, i) => validateCel(item, correlateItem(old, item, i, schema), items, `${path}[${i}]`, errors));
  }
}

/** Checks every CEL rule of a schema compiles; returns field errors naming the rule's location. */
export function checkCelRules(schema: Schema | undefined, path: string, errors: FieldError[]): void {
  if (schema === undefined) return;
  (schema['x-kubernetes-validations'] ?? []).forEach((rule, i) => {
    try {
      compileCel(rule.rule);
    } catch (err) {
      errors.push(fieldErrors.invalid(`${path}.x-kubernetes-validations[${i}].rule`, new GoValue(`apiextensions.ValidationRule{Rule:${JSON.stringify(rule.rule)}, Message:${JSON.stringify(rule.message ?? '')}}`), `compilation failed: ${(err as Error).message}`));
    }
  });
  for (const [key, child] of Object.entries(schema.properties ?? {})) checkCelRules(child, `${path}.properties[${key}]`, errors);
  if (schema.items !== undefined) checkCelRules(schema.items, `${path}.items`, errors);
  if (isObject(schema.additionalProperties)) checkCelRules(schema.additionalProperties as Schema, `${path}.additionalProperties`, errors);
}

/** Schema errors after which kube-apiserver does not evaluate CEL rules. */
export const CEL_BLOCKING: ReadonlySet<string> = new Set(['FieldValueTypeInvalid', 'FieldValueRequired', 'FieldValueTooLong', 'FieldValueTooMany']);

/** The error kube-apiserver adds when CEL rules were skipped (a nil field path). */
export function celSkipped(): FieldError {
  return { reason: 'FieldValueInvalid', field: '<nil>', message: '<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation' };
}

/** Whether any schema node carries x-kubernetes-validations. */
export function hasCelRules(schema: Schema | undefined): boolean {
  if (schema === undefined) return false;
  if ((schema['x-kubernetes-validations'] ?? []).length > 0) return true;
  if (Object.values(schema.properties ?? {}).some((child) => hasCelRules(child))) return true;
  if (hasCelRules(schema.items)) return true;
  return isObject(schema.additionalProperties) && hasCelRules(schema.additionalProperties as Schema);
}
