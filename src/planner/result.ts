// Errors as data for the planner: every invalid input is a list of issues, each naming where (a CSV row and
// column, a JSON path, a flag) and what was expected, so the CLI and the controller can surface them as is.

/** One problem with planner input. `path` names the place: `row 12, column time`, `stages[3]`, … */
export interface PlannerIssue {
  readonly path: string;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly PlannerIssue[] };

/** Thrown by planner functions whose preconditions fail; carries the issues. */
export class PlannerInputError extends Error {
  override readonly name = 'PlannerInputError';
  constructor(readonly issues: readonly PlannerIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
}

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T>(issues: readonly PlannerIssue[]): Result<T> {
  return { ok: false, issues };
}

/** Returns the value of an ok result, or throws a PlannerInputError with its issues. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new PlannerInputError(result.issues);
}
