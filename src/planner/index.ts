// The planner's public API: pure functions from a StageProfile and a PipelineSpec to a Frontier and
// FrequencyPlans. No Kubernetes, NVML, filesystem or logging.
export { parseStageProfile, parseStageProfileCsv, parseStageProfileJson, stageProfileToCsv, measurementsToCsv, commonClocksMhz } from './profile.ts';
export { buildPipelineDag, buildDagFromSpec, longestPath, scheduleTimes, oneFOneBOrder, type ComputationDag, type ComputationSpec } from './dag.ts';
export { buildOperationSpecs, paretoFilter, optionForDuration, type OperationSpec, type ExecutionOption } from './options.ts';
export { solveFrontier, solveStageFrontier, type Frontier, type SolvedPoint, type ProgressCallback } from './frontier.ts';
export { allMaxPlan, evaluatePlan, choosePlan, choosePointIndex, fastestPlan, minimumEnergyPlan, frontierToCsv, type ChosenPlan, type PlanEvaluation } from './plan.ts';
export { autoUnitTimeSeconds, solveSize, unitTimeForSize, DEFAULT_UNIT_TIME_BUDGET, UNIT_TIME_LADDER_SECONDS, type SolveSize, type UnitTimeBudget } from './unit-time.ts';
export { PlannerInputError, unwrap, type PlannerIssue, type Result } from './result.ts';
