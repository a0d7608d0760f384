// The stage profile CSV (`stage,instruction,frequency,time,energy`; MHz, s, J): parsed for simulated GPUs,
// written by the agent's profiling sweep. Errors name the line and column.
import type { Instruction, ProfileMeasurement, StageProfile } from '../api/planner-types.ts';

/** A malformed profile CSV; `line` is 1-based. */
export class ProfileCsvError extends Error {
  override readonly name = 'ProfileCsvError';
  constructor(
    readonly line: number,
    readonly column: string,
    message: string,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
  }
}

const HEADER = ['stage', 'instruction', 'frequency', 'time', 'energy'] as const;

/**
 * Parses a stage profile CSV. The header must be `stage,instruction,frequency,time,energy` (any order);
 * `stageCount` is the largest stage + 1.
 */
export function parseStageProfileCsv(text: string, blockingPowerWatts?: number): StageProfile {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const idx = HEADER.map((h) => header.indexOf(h));
  HEADER.forEach((h, i) => {
    if (idx[i] === -1) throw new ProfileCsvError(1, h, `missing column; expected header ${HEADER.join(',')}`);
  });
  const measurements: ProfileMeasurement[] = [];
  let maxStage = -1;
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (raw.trim() === '') continue;
    const cells = raw.split(',').map((c) => c.trim());
    const cell = (k: number): string => cells[idx[k] ?? 0] ?? '';
    const stage = Number(cell(0));
    if (!Number.isInteger(stage) || stage < 0) throw new ProfileCsvError(i + 1, 'stage', `expected an integer ≥ 0, got "${cell(0)}"`);
    const instruction = cell(1);
    if (instruction !== 'forward' && instruction !== 'backward') {
      throw new ProfileCsvError(i + 1, 'instruction', `expected forward or backward, got "${instruction}"`);
    }
    const frequencyMhz = Number(cell(2));
    if (!(frequencyMhz > 0)) throw new ProfileCsvError(i + 1, 'frequency', `expected a positive number (MHz), got "${cell(2)}"`);
    const timeSeconds = Number(cell(3));
    if (!(timeSeconds > 0)) throw new ProfileCsvError(i + 1, 'time', `expected a positive number (s), got "${cell(3)}"`);
    const energyJoules = Number(cell(4));
    if (!(energyJoules >= 0) || !Number.isFinite(energyJoules)) {
      throw new ProfileCsvError(i + 1, 'energy', `expected a number ≥ 0 (J), got "${cell(4)}"`);
    }
    maxStage = Math.max(maxStage, stage);
    measurements.push({ stage, instruction: instruction as Instruction, frequencyMhz, timeSeconds, energyJoules });
  }
  if (measurements.length === 0) throw new ProfileCsvError(2, 'stage', 'no measurements');
  return blockingPowerWatts === undefined
    ? { stageCount: maxStage + 1, measurements }
    : { stageCount: maxStage + 1, measurements, blockingPowerWatts };
}

/** Formats measurements as a stage profile CSV (with header and trailing newline). */
export function formatStageProfileCsv(measurements: readonly ProfileMeasurement[]): string {
  const rows = measurements.map((m) => `${m.stage},${m.instruction},${m.frequencyMhz},${m.timeSeconds},${m.energyJoules}`);
  return `${HEADER.join(',')}\n${rows.join('\n')}\n`;
}
