// The stage profile CSV (`stage,instruction,frequency,time,energy`; MHz, s, J) for simulated GPUs and the
// agent's profiling sweep: one format, parsed and validated by the planner's profile reader.
import type { ProfileMeasurement, StageProfile } from '../api/planner-types.ts';
import { parseStageProfileCsv as parseProfile } from '../planner/profile.ts';

/** A malformed profile CSV; `line` is 1-based (the header is line 1). */
export class ProfileCsvError extends Error {
  override readonly name = 'ProfileCsvError';
  constructor(
    readonly line: number,
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}

/** Parses and validates a stage profile CSV; throws ProfileCsvError naming the first bad line and column. */
export function parseStageProfileCsv(text: string, blockingPowerWatts?: number): StageProfile {
  const result = parseProfile(text);
  if (!result.ok) {
    const first = result.issues[0]!;
    const where = /row (\d+)(?:, column (\w+))?/.exec(first.path);
    const all = result.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ProfileCsvError(where === null ? 1 : Number(where[1]), where?.[2] ?? first.path, all);
  }
  return blockingPowerWatts === undefined ? result.value : { ...result.value, blockingPowerWatts };
}

/** Formats measurements as a stage profile CSV (with header and trailing newline). */
export function formatStageProfileCsv(measurements: readonly ProfileMeasurement[]): string {
  const rows = measurements.map((m) => `${m.stage},${m.instruction},${m.frequencyMhz},${m.timeSeconds},${m.energyJoules}`);
  return `stage,instruction,frequency,time,energy\n${rows.join('\n')}\n`;
}
