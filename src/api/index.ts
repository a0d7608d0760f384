// The API's entry points for other layers: types, names, and validation of whole objects exactly as the
// CRD schema (structure and CEL rules) would validate them on the API server.
import { trainingJobCrd } from './crds.ts';
import { jobSpecSchema, type ValidatedJobSpec } from './job.ts';
import { API_VERSION, JOB_NAMES } from './names.ts';
import type { OpenApiSchema } from './schema.ts';
import { applyDefaults, validate, type Issue, type Result } from './validate.ts';

export * from './job.ts';
export * from './names.ts';
export * from './rank.ts';
export type { Issue, Result } from './validate.ts';

let jobRoot: OpenApiSchema | undefined;

/** The job root schema with metadata opened up (the API server validates metadata itself) and no status. */
function jobValidationRoot(): OpenApiSchema {
  if (jobRoot === undefined) {
    const root = trainingJobCrd().spec.versions[0]?.schema.openAPIV3Schema;
    if (root === undefined) throw new Error('PerseusTrainingJob CRD has no version');
    const { status: _status, ...properties } = root.properties ?? {};
    jobRoot = { ...root, properties: { ...properties, metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } };
  }
  return jobRoot;
}

/** Fills the schema defaults into a job spec (what the API server does on admission). */
export function defaultJobSpec(spec: unknown): unknown {
  return applyDefaults(jobSpecSchema.openapi, spec);
}

/**
 * Validates a job (`metadata.name` and `spec`) after defaulting; `old` is the stored version on an update
 * (enables the immutability rules). Returns the defaulted spec or every issue, each naming its field.
 */
export function validateJob(
  job: { readonly metadata: { readonly name: string }; readonly spec?: unknown },
  old?: { readonly metadata: { readonly name: string }; readonly spec?: unknown },
): Result<ValidatedJobSpec> {
  const spec = defaultJobSpec(job.spec ?? {});
  const value = { apiVersion: API_VERSION, kind: JOB_NAMES.kind, metadata: { name: job.metadata.name }, spec };
  const oldValue = old === undefined ? undefined : { ...value, metadata: { name: old.metadata.name }, spec: defaultJobSpec(old.spec ?? {}) };
  const issues: Issue[] = validate(jobValidationRoot(), value, oldValue);
  return issues.length === 0 ? { ok: true, value: spec as ValidatedJobSpec } : { ok: false, issues };
}
