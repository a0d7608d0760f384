// The static rank file of `perseus agent --ranks FILE` (standalone use, without Kubernetes): a JSON array
// of the agent's rank specs (AgentRankSpec). Validated with the same schema machinery as the CRDs, so every
// problem names its field (`ranks[2].plan.stagePlan.computations[0].frequencyMhz`) and the expected form.
import { plannedComputationSchema, RANK_MODES } from '../api/rank.ts';
import { arr, bool, int, obj, str } from '../api/schema.ts';
import { validate, type Issue, type Result } from '../api/validate.ts';
import type { AgentRankSpec } from './types.ts';

const name = (what: string) => str(what, { minLength: 1, maxLength: 253 });

const staticRankSchema = obj(
  'One rank the agent serves.',
  {
    namespace: name('Namespace of the rank and its pod.'),
    name: name('Rank name.'),
    job: name('Job the rank belongs to.'),
    pipeline: int('Pipeline index.', { minimum: 0 }),
    stage: int('Stage index.', { minimum: 0 }),
    podName: name('The pod whose GPUs the rank uses.'),
    mode: str('What the agent does for the rank.', { enum: RANK_MODES }),
    tokenSha256: str('Lowercase hex SHA-256 of the rank token.', { pattern: '^[a-f0-9]{64}$' }),
    plan: obj(
      'Clock plan (Run mode).',
      {
        generation: int('Plan generation.', { minimum: 1 }),
        granularity: str('Instruction or Stage.', { enum: ['Instruction', 'Stage'] }),
        stagePlan: obj(
          'The clocks of this stage.',
          {
            stage: int('Stage index.', { minimum: 0 }),
            computations: arr('Every computation of the stage, in execution order.', plannedComputationSchema, { maxItems: 65536 }),
            frequencyMhz: int('Stage granularity: the one clock (MHz).', { minimum: 1 }),
          },
          { required: ['stage', 'computations'] },
        ),
      },
      { required: ['generation', 'granularity', 'stagePlan'] },
    ),
    profiling: obj(
      'Profiling sweep (Profile mode).',
      {
        warmupIterations: int('Iterations discarded after every clock change.', { minimum: 0 }),
        iterationsPerClock: int('Measured iterations per clock.', { minimum: 1 }),
        clockStrideMhz: int('Minimum MHz between swept clocks.', { minimum: 0 }),
        frequenciesMhz: arr('Exact clocks to sweep (MHz); overrides clockStrideMhz.', int('SM clock (MHz).', { minimum: 1 }), { minItems: 1, maxItems: 256 }),
        earlyStop: bool('Stop once energy keeps rising.'),
        minFrequencyMhz: int('Lowest clock swept (MHz).', { minimum: 1 }),
        maxFrequencyMhz: int('Highest clock swept (MHz).', { minimum: 1 }),
      },
      { required: ['warmupIterations', 'iterationsPerClock', 'clockStrideMhz', 'earlyStop'] },
    ),
  },
  {
    required: ['namespace', 'name', 'job', 'pipeline', 'stage', 'podName', 'mode', 'tokenSha256'],
    rules: [
      { rule: "self.mode != 'Run' || has(self.plan)", message: 'plan is required in Run mode' },
      { rule: "self.mode != 'Profile' || has(self.profiling)", message: 'profiling is required in Profile mode' },
    ],
  },
);

const fileSchema = arr('The ranks.', staticRankSchema, { maxItems: 4096 });

/** Parses and validates a static rank file's text; every issue names its field (`ranks[i]...`). */
export function parseStaticRanks(text: string): Result<AgentRankSpec[]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [{ path: 'ranks', message: `expected a JSON array of rank specs: ${(err as Error).message}` }] };
  }
  const issues: Issue[] = validate(fileSchema.openapi, value, undefined, 'ranks');
  const seen = new Set<string>();
  if (issues.length === 0) {
    (value as AgentRankSpec[]).forEach((r, i) => {
      const key = `${r.namespace}/${r.name}`;
      if (seen.has(key)) issues.push({ path: `ranks[${i}].name`, message: `duplicate rank ${key}` });
      seen.add(key);
    });
  }
  return issues.length === 0 ? { ok: true, value: value as AgentRankSpec[] } : { ok: false, issues };
}
