// A rank's plan as a lookup table from (instruction, microbatch, chunk) to a clock, built once per plan
// generation so the hot path is one Map lookup.
import type { Instruction } from '../api/planner-types.ts';
import type { RankPlan } from './types.ts';

/** Numeric key of a computation: no string building on the hot path. */
export function computationKey(instruction: Instruction, microbatch: number, chunk: number): number {
  return (microbatch * 256 + chunk) * 2 + (instruction === 'backward' ? 1 : 0);
}

export class PlanIndex {
  readonly generation: number;
  readonly granularity: RankPlan['granularity'];
  /** The one clock of a Stage-granularity plan (or undefined for Instruction granularity). */
  readonly stageClockMhz: number | undefined;
  readonly microbatches: number;
  private readonly byKey = new Map<number, number>();

  constructor(plan: RankPlan) {
    this.generation = plan.generation;
    this.granularity = plan.granularity;
    let maxMb = -1;
    for (const c of plan.stagePlan.computations) {
      this.byKey.set(computationKey(c.instruction, c.microbatch, c.chunk), c.frequencyMhz);
      maxMb = Math.max(maxMb, c.microbatch);
    }
    this.microbatches = maxMb + 1;
    this.stageClockMhz = plan.granularity === 'Stage' ? (plan.stagePlan.frequencyMhz ?? plan.stagePlan.computations[0]?.frequencyMhz) : undefined;
  }

  /** The planned clock of a computation, or undefined if the plan has no such computation. */
  clockFor(instruction: Instruction, microbatch: number, chunk: number): number | undefined {
    return this.byKey.get(computationKey(instruction, microbatch, chunk));
  }
}
