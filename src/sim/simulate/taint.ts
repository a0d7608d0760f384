// Simulated nodes carry a NoSchedule taint and a label: attached to a real cluster, nothing but the
// simulated jobs (whose pod templates get the matching toleration) may be scheduled onto a node whose
// kubelet is simulated, and the simulated jobs (whose pod templates select the label) onto nothing else.
import type { Taint } from '../kubelet-api.ts';
import type { JobManifest } from './job.ts';

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: string;
}

/** The taint of every simulated node. */
export const SIMULATED_NODE_TAINT: Taint = {
  key: 'perseus.energy/simulated',
  value: 'true',
  effect: 'NoSchedule',
};

/** The label of every simulated node, selected by the simulated jobs' pods. */
export const SIMULATED_NODE_LABEL = { key: 'perseus.energy/simulated', value: 'true' } as const;

/** Kubernetes' matching rule: an empty effect matches every effect, `Exists` with no key matches every taint. */
export function tolerates(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

/**
 * A copy of `job` whose pod template tolerates the simulated nodes' taint (added only when missing) and
 * selects their label, so its pods land on simulated nodes only, never on a real GPU node of the cluster.
 */
export function placeOnSimulatedNodes(job: JobManifest): JobManifest {
  const spec = structuredClone(job.spec) as Record<string, unknown>;
  const template = (spec['template'] ?? {}) as { spec?: { tolerations?: Toleration[]; nodeSelector?: Record<string, string> } };
  const podSpec = (template.spec ??= {});
  if (!tolerates(podSpec.tolerations, SIMULATED_NODE_TAINT)) {
    podSpec.tolerations = [
      ...(podSpec.tolerations ?? []),
      {
        key: SIMULATED_NODE_TAINT.key,
        operator: 'Equal',
        value: SIMULATED_NODE_TAINT.value ?? '',
        effect: SIMULATED_NODE_TAINT.effect,
      },
    ];
  }
  podSpec.nodeSelector = { ...podSpec.nodeSelector, [SIMULATED_NODE_LABEL.key]: SIMULATED_NODE_LABEL.value };
  spec['template'] = template;
  return { ...job, spec };
}
