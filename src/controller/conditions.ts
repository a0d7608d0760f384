// metav1.Condition bookkeeping: a condition keeps its lastTransitionTime while its status is unchanged.
import type { Condition } from '../api/index.ts';

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Returns `conditions` with `type` set; the transition time moves only when the status changes. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  nowIso: string,
  observedGeneration: number,
): Condition[] {
  const existing = findCondition(conditions, type);
  const next: Condition = {
    type,
    status,
    reason,
    message,
    observedGeneration,
    lastTransitionTime: existing !== undefined && existing.status === status ? existing.lastTransitionTime : nowIso,
  };
  const rest = (conditions ?? []).filter((c) => c.type !== type);
  return [...rest, next].sort((a, b) => a.type.localeCompare(b.type));
}
