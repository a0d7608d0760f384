// The planning problem of one solve: the validated options, the computation DAG and the operation of each
// computation, shared by the solver, the frontier's bookkeeping and plan evaluation.
import type { PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import { buildPipelineDag, type ComputationDag } from './dag.ts';
import { buildOperationSpecs, type OperationSpec } from './options.ts';
import { PlannerInputError, unwrap, type PlannerIssue } from './result.ts';

/** The DAG and per-computation operations shared by solving and evaluation. */
export interface PlanningProblem {
  readonly dag: ComputationDag;
  readonly specs: readonly OperationSpec[];
  /** specs index of each computation. */
  readonly specOf: Int32Array;
}

/** Issues of the options other than the unit time (checked where the unit is resolved). */
export function validateOptions(options: PlannerOptions): PlannerIssue[] {
  const issues: PlannerIssue[] = [];
  if (!(options.blockingPowerWatts >= 0) || !Number.isFinite(options.blockingPowerWatts)) {
    issues.push({ path: 'blockingPowerWatts', message: `expected a non-negative number of watts, got ${options.blockingPowerWatts}` });
  }
  if (options.costModel !== 'lowtime' && options.costModel !== 'exact') {
    issues.push({ path: 'costModel', message: `expected lowtime or exact, got ${JSON.stringify(options.costModel)}` });
  }
  if (options.granularity !== 'Instruction' && options.granularity !== 'Stage') {
    issues.push({ path: 'granularity', message: `expected Instruction or Stage, got ${JSON.stringify(options.granularity)}` });
  }
  return issues;
}

/** Builds the DAG and operations; throws PlannerInputError naming the field on bad input. */
export function buildProblem(profile: StageProfile, pipeline: PipelineSpec, options: PlannerOptions): PlanningProblem {
  const issues: PlannerIssue[] = [];
  if (!(options.unitTimeSeconds > 0) || !Number.isFinite(options.unitTimeSeconds)) {
    issues.push({ path: 'unitTimeSeconds', message: `expected a positive number of seconds, got ${options.unitTimeSeconds}` });
  }
  issues.push(...validateOptions(options));
  if (issues.length > 0) throw new PlannerInputError(issues);
  if (pipeline.stages !== profile.stageCount) {
    throw new PlannerInputError([{ path: 'stages', message: `the pipeline has ${pipeline.stages} stages but the profile measures ${profile.stageCount}` }]);
  }
  const dag = unwrap(buildPipelineDag(pipeline));
  const specs = unwrap(buildOperationSpecs(profile, options.unitTimeSeconds, options.blockingPowerWatts, options.costModel));
  const specOf = new Int32Array(dag.count);
  for (let i = 0; i < dag.count; i++) specOf[i] = dag.stage[i]! * 2 + dag.instruction[i]!;
  return { dag, specs, specOf };
}
