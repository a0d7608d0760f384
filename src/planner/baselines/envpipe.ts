// EnvPipe's plan, for comparison: the outer envelope (the last stage, and each stage's first forward and
// last backward) at the top clock, everything else at the lowest Pareto clock, then the lowest clocks on the
// critical path raised step by step until the iteration is no longer than the envelope (all-max) time.
import type { FrequencyPlan, PipelineSpec, StageProfile } from '../../api/planner-types.ts';
import { allMaxPlan, buildPipelineDag, evaluatePlan, paretoFilter, scheduleTimes, unwrap, type PlanEvaluation } from '../index.ts';

/** Builds EnvPipe's plan and returns it with its true time and energy. */
export function envPipePlan(profile: StageProfile, pipeline: PipelineSpec, blockingPowerWatts: number): { plan: FrequencyPlan; truth: PlanEvaluation } {
  const base = allMaxPlan(profile, pipeline);
  const baseline = evaluatePlan(base, profile, pipeline, blockingPowerWatts);
  const top = base.stages[0]!.computations[0]!.frequencyMhz;
  // Per (stage, instruction): Pareto clocks, lowest first.
  const ladder = new Map<string, number[]>();
  for (let s = 0; s < profile.stageCount; s++) {
    for (const inst of ['forward', 'backward'] as const) {
      const opts = paretoFilter(profile.measurements.filter((m) => m.stage === s && m.instruction === inst));
      const clocks = [...new Set(opts.map((o) => o.frequencyMhz).filter((f) => f <= top))].sort((a, b) => a - b);
      if (!clocks.includes(top)) clocks.push(top);
      ladder.set(`${s}/${inst}`, clocks);
    }
  }
  const S = pipeline.stages;
  const level = base.stages.map((sp) => {
    const firstForward = sp.computations.findIndex((c) => c.instruction === 'forward');
    let lastBackward = -1;
    sp.computations.forEach((c, k) => {
      if (c.instruction === 'backward') lastBackward = k;
    });
    return sp.computations.map((c, k) => {
      const clocks = ladder.get(`${sp.stage}/${c.instruction}`)!;
      const envelope = sp.stage === S - 1 || k === firstForward || k === lastBackward;
      return envelope ? clocks.length - 1 : 0;
    });
  });
  const build = (): FrequencyPlan => ({
    ...base,
    stages: base.stages.map((sp, s) => ({
      ...sp,
      computations: sp.computations.map((c, k) => ({ ...c, frequencyMhz: ladder.get(`${sp.stage}/${c.instruction}`)![level[s]![k]!]! })),
    })),
  });
  // Raise, one step at a time, every true-critical computation that runs at the lowest clock among the
  // critical ones, until the iteration fits the envelope time.
  const dag = unwrap(buildPipelineDag(pipeline));
  const table = new Map(profile.measurements.map((m) => [`${m.stage}/${m.instruction}/${m.frequencyMhz}`, m.timeSeconds]));
  const n = dag.count;
  const t = new Float64Array(n);
  const pos: Array<[number, number]> = [];
  dag.stageOrder.forEach((order, s) => order.forEach((i, k) => (pos[i] = [s, k])));
  const clockOf = (i: number): number => {
    const [s, k] = pos[i]!;
    const inst = base.stages[s]!.computations[k]!.instruction;
    return ladder.get(`${s}/${inst}`)![level[s]![k]!]!;
  };
  for (let guard = 0; guard < 100000; guard++) {
    for (let i = 0; i < n; i++) t[i] = table.get(`${dag.stage[i]}/${dag.instruction[i] === 0 ? 'forward' : 'backward'}/${clockOf(i)}`)!;
    const { total, earliestFinish: ef, latestFinish: lf } = scheduleTimes(dag, t);
    if (total <= baseline.timeSeconds + 1e-9) break;
    const critical: number[] = [];
    let lowest = Infinity;
    for (let i = 0; i < n; i++) {
      const [s, k] = pos[i]!;
      const inst = base.stages[s]!.computations[k]!.instruction;
      if (Math.abs(lf[i]! - ef[i]!) > 1e-12 * total || level[s]![k]! + 1 >= ladder.get(`${s}/${inst}`)!.length) continue;
      critical.push(i);
      lowest = Math.min(lowest, clockOf(i));
    }
    if (critical.length === 0) break;
    for (const i of critical) {
      if (clockOf(i) !== lowest) continue;
      const [s, k] = pos[i]!;
      level[s]![k]!++;
    }
  }
  const plan = build();
  return { plan, truth: evaluatePlan(plan, profile, pipeline, blockingPowerWatts) };
}
