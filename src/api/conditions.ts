// metav1.Condition transitions, shared by the controller (job conditions) and the node agent (rank
// conditions): a condition keeps its lastTransitionTime while its status is unchanged.
import type { Condition } from './job.ts';

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * `next` as it replaces the condition of its type in `previous`: lastTransitionTime is the previous one when
 * the status is the same, else `nowIso` (RFC 3339, e.g. `2024-05-01T12:00:00Z`).
 */
export function transitionCondition(previous: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, nowIso: string): Condition {
  const existing = findCondition(previous, next.type);
  return { ...next, lastTransitionTime: existing !== undefined && existing.status === next.status ? existing.lastTransitionTime : nowIso };
}

/** Returns `conditions` with `type` set, sorted by type; the transition time moves only when the status changes. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  nowIso: string,
  observedGeneration: number,
): Condition[] {
  const next = transitionCondition(conditions, { type, status, reason, message, observedGeneration }, nowIso);
  const rest = (conditions ?? []).filter((c) => c.type !== type);
  return [...rest, next].sort((a, b) => a.type.localeCompare(b.type));
}
