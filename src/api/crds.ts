// Builds the CustomResourceDefinitions from the schemas in job.ts and rank.ts; `npm run gen:crds` writes
// them to crds/ and a test fails when the committed YAML drifts from this source.
import yaml from 'js-yaml';
import { jobSpecSchema, jobStatusSchema } from './job.ts';
import { GROUP, JOB_NAMES, RANK_NAMES, VERSION } from './names.ts';
import { rankSpecSchema, rankStatusSchema } from './rank.ts';
import type { OpenApiSchema } from './schema.ts';

/** A CRD as a plain object (apiextensions.k8s.io/v1). */
export interface CustomResourceDefinition {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string; readonly labels: Record<string, string> };
  readonly spec: {
    readonly group: string;
    readonly names: Record<string, unknown>;
    readonly scope: 'Namespaced';
    readonly versions: readonly {
      readonly name: string;
      readonly served: boolean;
      readonly storage: boolean;
      readonly schema: { readonly openAPIV3Schema: OpenApiSchema };
      readonly subresources: { readonly status: Record<string, never> };
      readonly additionalPrinterColumns: readonly { name: string; type: string; jsonPath: string; description: string; priority?: number }[];
    }[];
  };
}

const metadataSchema: OpenApiSchema = { type: 'object' };

function crd(
  names: { kind: string; listKind: string; plural: string; singular: string; shortNames: readonly string[]; categories: readonly string[] },
  description: string,
  spec: OpenApiSchema,
  status: OpenApiSchema,
  columns: CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns'],
  rootRules: OpenApiSchema['x-kubernetes-validations'],
): CustomResourceDefinition {
  const root: OpenApiSchema = {
    description,
    type: 'object',
    properties: {
      apiVersion: { description: `APIVersion of this representation of the object (${GROUP}/${VERSION}).`, type: 'string' },
      kind: { description: `Kind of the object (${names.kind}).`, type: 'string' },
      metadata: metadataSchema,
      spec,
      status,
    },
    required: ['spec'],
  };
  if (rootRules !== undefined) root['x-kubernetes-validations'] = rootRules;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'perseus', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.shortNames],
        categories: [...names.categories],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: root },
          subresources: { status: {} },
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

/** The PerseusTrainingJob CRD. */
export function trainingJobCrd(): CustomResourceDefinition {
  return crd(
    JOB_NAMES,
    'PerseusTrainingJob runs a pipeline-parallel training job and plans its GPU clocks: it profiles one pipeline, computes the iteration time–energy frontier, runs every computation at the slowest clock that keeps the iteration time, and replans when a pipeline straggles.',
    jobSpecSchema.openapi,
    jobStatusSchema.openapi,
    [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Lifecycle phase.' },
      { name: 'Stages', type: 'integer', jsonPath: '.spec.topology.stages', description: 'Pipeline stages.' },
      { name: 'Pipelines', type: 'integer', jsonPath: '.spec.topology.dataParallel', description: 'Data-parallel pipelines.' },
      { name: 'Savings', type: 'string', jsonPath: '.status.plan.savings', description: 'Expected energy savings of the plan.' },
      { name: 'Generation', type: 'integer', jsonPath: '.status.plan.generation', description: 'Plan generation.', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
    ],
    [
      {
        rule: "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 40",
        message: 'metadata.name must be a DNS-1035 label of at most 40 characters (it prefixes pod, service and rank names)',
      },
    ],
  );
}

/** The PerseusRank CRD. */
export function rankCrd(): CustomResourceDefinition {
  return crd(
    RANK_NAMES,
    'PerseusRank is one (pipeline, stage) of a PerseusTrainingJob: the controller writes what the node agent must do with the GPUs of that rank (profile, run a frequency plan, or idle) and the agent reports measurements, the applied plan and iteration times.',
    rankSpecSchema.openapi,
    rankStatusSchema.openapi,
    [
      { name: 'Job', type: 'string', jsonPath: '.spec.jobName', description: 'Owning job.' },
      { name: 'Pipeline', type: 'integer', jsonPath: '.spec.pipeline', description: 'Pipeline index.' },
      { name: 'Stage', type: 'integer', jsonPath: '.spec.stage', description: 'Stage index.' },
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Profile, Run or Idle.' },
      { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', description: 'Node of the rank’s pod.' },
      { name: 'Plan', type: 'integer', jsonPath: '.spec.plan.generation', description: 'Plan generation in the spec.' },
      { name: 'Applied', type: 'integer', jsonPath: '.status.appliedPlanGeneration', description: 'Plan generation the agent applied.' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
    ],
    undefined,
  );
}

/** Every CRD with the file name it is committed under in crds/. */
export function allCrds(): { file: string; crd: CustomResourceDefinition }[] {
  return [trainingJobCrd(), rankCrd()].map((c) => ({ file: `${GROUP}_${c.spec.names['plural'] as string}.yaml`, crd: c }));
}

/** Renders a CRD as YAML, deterministically. */
export function renderCrdYaml(c: CustomResourceDefinition): string {
  return `# Generated by \`npm run gen:crds\` from src/api; do not edit.\n${yaml.dump(c, { lineWidth: -1, noRefs: true, sortKeys: false, quotingType: '"' })}`;
}
