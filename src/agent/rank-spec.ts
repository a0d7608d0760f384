// The agent's view of a PerseusRank object: its spec mapped to AgentRankSpec (the agent restarts a sweep or
// re-applies a plan when that view changes, so equal parts keep their identity).
import type { RankSpec } from '../api/rank.ts';
import type { KubeObject } from '../kube/client.ts';
import type { AgentRankSpec, ProfilingSweepSpec } from './types.ts';

/** Maps a PerseusRank object to the agent's view; undefined when the object is not a usable rank. */
export function agentRankSpecOf(obj: KubeObject, previous?: AgentRankSpec): AgentRankSpec | undefined {
  const spec = obj['spec'] as RankSpec | undefined;
  if (spec === undefined || typeof spec.podName !== 'string' || typeof spec.jobName !== 'string') return undefined;
  const namespace = obj.metadata.namespace ?? 'default';
  const profile = spec.profile;
  let profiling: ProfilingSweepSpec | undefined;
  if (profile !== undefined) {
    profiling = {
      warmupIterations: profile.warmupIterations,
      iterationsPerClock: profile.iterationsPerClock,
      clockStrideMhz: profile.clockStrideMhz,
      earlyStop: profile.earlyStop ?? true,
      ...(profile.frequenciesMhz === undefined ? {} : { frequenciesMhz: profile.frequenciesMhz }),
      ...(profile.minFrequencyMhz === undefined ? {} : { minFrequencyMhz: profile.minFrequencyMhz }),
      ...(profile.maxFrequencyMhz === undefined ? {} : { maxFrequencyMhz: profile.maxFrequencyMhz }),
      ...(profile.round === undefined ? {} : { round: profile.round }),
      ...(profile.targets === undefined ? {} : { targets: { forward: profile.targets.forward ?? [], backward: profile.targets.backward ?? [] } }),
    };
    // The agent restarts a sweep when the sweep object changes: keep the previous one when it is equal.
    if (previous?.profiling !== undefined && JSON.stringify(previous.profiling) === JSON.stringify(profiling)) profiling = previous.profiling;
  }
  const plan = spec.plan;
  return {
    namespace,
    name: obj.metadata.name,
    job: spec.jobName,
    pipeline: spec.pipeline,
    stage: spec.stage,
    podName: spec.podName,
    mode: spec.mode,
    tokenSha256: spec.tokenSha256 ?? '',
    ...(spec.attempt === undefined ? {} : { attempt: spec.attempt }),
    ...(profiling === undefined ? {} : { profiling }),
    ...(plan === undefined
      ? {}
      : {
          plan: {
            generation: plan.generation,
            granularity: plan.granularity,
            stagePlan: {
              stage: spec.stage,
              computations: (plan.computations ?? []).map((c) => ({ instruction: c.instruction, microbatch: c.microbatch, chunk: c.chunk, frequencyMhz: c.frequencyMhz })),
              ...(plan.frequencyMhz === undefined ? {} : { frequencyMhz: plan.frequencyMhz }),
            },
          },
        }),
  };
}
