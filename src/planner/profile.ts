// StageProfile input: parses and validates the measured profile (CSV `stage,instruction,frequency,time,energy`
// in s, J, MHz, or the equivalent JSON), and derives what the rest of the planner needs from it.
import type { Instruction, ProfileMeasurement, StageProfile } from '../api/planner-types.ts';
import { INSTRUCTIONS } from '../api/planner-types.ts';
import type { PlannerIssue, Result } from './result.ts';
import { fail, ok } from './result.ts';

const COLUMNS = ['stage', 'instruction', 'frequency', 'time', 'energy'] as const;
const MAX_ISSUES = 50;

/** Parses a stage profile CSV. Errors name the row (1-based, the header is row 1) and the column. */
export function parseStageProfileCsv(text: string): Result<StageProfile> {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const missing = COLUMNS.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    return fail([{ path: 'row 1 (header)', message: `missing column(s) ${missing.join(', ')}; expected a header with ${COLUMNS.join(',')}` }]);
  }
  const index = Object.fromEntries(COLUMNS.map((c) => [c, header.indexOf(c)])) as Record<(typeof COLUMNS)[number], number>;
  const issues: PlannerIssue[] = [];
  const rows: Array<Record<string, unknown> & { __row: string }> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    const cells = line.split(',');
    if (cells.length !== header.length) {
      issues.push({ path: `row ${i + 1}`, message: `expected ${header.length} cells, got ${cells.length}` });
      continue;
    }
    const cell = (c: (typeof COLUMNS)[number]): string => (cells[index[c]] ?? '').trim();
    rows.push({
      __row: `row ${i + 1}`,
      stage: cell('stage'),
      instruction: cell('instruction'),
      frequency: cell('frequency'),
      time: cell('time'),
      energy: cell('energy'),
    });
    if (issues.length >= MAX_ISSUES) break;
  }
  if (issues.length > 0) return fail(issues);
  return validateRows(rows, (row, column) => `${row.__row}, column ${column}`);
}

/**
 * Parses the JSON form: `{ "measurements": [{stage, instruction, frequencyMhz, timeSeconds, energyJoules}],
 * "blockingPowerWatts"?: number }`, or a bare array of such rows. CSV column names are accepted too.
 */
export function parseStageProfileJson(text: string): Result<StageProfile> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return fail([{ path: '$', message: `invalid JSON: ${(err as Error).message}` }]);
  }
  const list = Array.isArray(data) ? data : (data as { measurements?: unknown } | null)?.measurements;
  if (!Array.isArray(list)) {
    return fail([{ path: '$.measurements', message: 'expected an array of {stage, instruction, frequencyMhz, timeSeconds, energyJoules}' }]);
  }
  const rows = list.map((r: unknown, i) => {
    const o = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
    return {
      __row: `$.measurements[${i}]`,
      stage: o['stage'],
      instruction: o['instruction'],
      frequency: o['frequencyMhz'] ?? o['frequency'],
      time: o['timeSeconds'] ?? o['time'],
      energy: o['energyJoules'] ?? o['energy'],
    };
  });
  const names: Record<string, string> = { frequency: 'frequencyMhz', time: 'timeSeconds', energy: 'energyJoules', stage: 'stage', instruction: 'instruction' };
  const result = validateRows(rows, (row, column) => `${row.__row}.${names[column] ?? column}`);
  if (!result.ok || Array.isArray(data)) return result;
  const power = (data as { blockingPowerWatts?: unknown }).blockingPowerWatts;
  if (power === undefined) return result;
  if (typeof power !== 'number' || !Number.isFinite(power) || power < 0) {
    return fail([{ path: '$.blockingPowerWatts', message: `expected a non-negative number of watts, got ${JSON.stringify(power)}` }]);
  }
  return ok({ ...result.value, blockingPowerWatts: power });
}

/** Parses either form, deciding by the first non-blank character. */
export function parseStageProfile(text: string): Result<StageProfile> {
  const first = text.trimStart()[0];
  return first === '{' || first === '[' ? parseStageProfileJson(text) : parseStageProfileCsv(text);
}

function toNumber(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string' && raw.trim() !== '') return Number(raw);
  return Number.NaN;
}

function validateRows<R extends { __row: string } & Record<string, unknown>>(
  rows: readonly R[],
  where: (row: R, column: string) => string,
): Result<StageProfile> {
  const issues: PlannerIssue[] = [];
  const measurements: ProfileMeasurement[] = [];
  const seen = new Map<string, string>();
  for (const row of rows) {
    if (issues.length >= MAX_ISSUES) break;
    const stage = toNumber(row['stage']);
    if (!Number.isInteger(stage) || stage < 0) {
      issues.push({ path: where(row, 'stage'), message: `expected a non-negative integer stage index, got ${JSON.stringify(row['stage'])}` });
      continue;
    }
    const instruction = typeof row['instruction'] === 'string' ? row['instruction'].toLowerCase() : '';
    if (!(INSTRUCTIONS as readonly string[]).includes(instruction)) {
      issues.push({ path: where(row, 'instruction'), message: `expected one of ${INSTRUCTIONS.join(', ')}, got ${JSON.stringify(row['instruction'])}` });
      continue;
    }
    const frequencyMhz = toNumber(row['frequency']);
    if (!Number.isInteger(frequencyMhz) || frequencyMhz <= 0) {
      issues.push({ path: where(row, 'frequency'), message: `expected a positive integer clock in MHz, got ${JSON.stringify(row['frequency'])}` });
      continue;
    }
    const timeSeconds = toNumber(row['time']);
    if (!Number.isFinite(timeSeconds) || timeSeconds <= 0) {
      issues.push({ path: where(row, 'time'), message: `expected a positive finite time in seconds, got ${JSON.stringify(row['time'])}` });
      continue;
    }
    const energyJoules = toNumber(row['energy']);
    if (!Number.isFinite(energyJoules) || energyJoules <= 0) {
      issues.push({ path: where(row, 'energy'), message: `expected a positive finite energy in joules, got ${JSON.stringify(row['energy'])}` });
      continue;
    }
    const key = `${stage}/${instruction}/${frequencyMhz}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      issues.push({ path: row.__row, message: `duplicate measurement of stage ${stage} ${instruction} at ${frequencyMhz} MHz (first at ${earlier})` });
      continue;
    }
    seen.set(key, row.__row);
    measurements.push({ stage, instruction: instruction as Instruction, frequencyMhz, timeSeconds, energyJoules });
  }
  if (issues.length > 0) return fail(issues);
  if (measurements.length === 0) return fail([{ path: 'rows', message: 'the profile has no measurements' }]);
  return checkCoverage(measurements);
}

/** Every stage 0…S−1 must have both instructions, and all of them must share at least one clock. */
function checkCoverage(measurements: readonly ProfileMeasurement[]): Result<StageProfile> {
  const stageCount = Math.max(...measurements.map((m) => m.stage)) + 1;
  const clocks = new Map<string, Set<number>>();
  for (const m of measurements) {
    const key = `${m.stage}/${m.instruction}`;
    let set = clocks.get(key);
    if (set === undefined) clocks.set(key, (set = new Set()));
    set.add(m.frequencyMhz);
  }
  const issues: PlannerIssue[] = [];
  let common: Set<number> | undefined;
  for (let s = 0; s < stageCount; s++) {
    for (const inst of INSTRUCTIONS) {
      const set = clocks.get(`${s}/${inst}`);
      if (set === undefined) {
        issues.push({ path: `stage ${s}`, message: `missing ${inst} measurements (stages must be numbered 0…${stageCount - 1} with forward and backward rows)` });
        continue;
      }
      common = common === undefined ? new Set(set) : new Set([...common].filter((f) => set.has(f)));
    }
  }
  if (issues.length > 0) return fail(issues);
  if (common === undefined || common.size === 0) {
    return fail([{ path: 'frequency', message: 'the stages have no clock in common; every stage and instruction must be measured at least at one shared clock' }]);
  }
  return ok({ stageCount, measurements });
}

/** Serializes a profile to the CSV form (`stage,instruction,frequency,time,energy`), sorted deterministically. */
export function stageProfileToCsv(profile: StageProfile): string {
  const rows = [...profile.measurements].sort(
    (a, b) => a.stage - b.stage || b.frequencyMhz - a.frequencyMhz || a.instruction.localeCompare(b.instruction),
  );
  return measurementsToCsv(rows);
}

/** Measurements as the CSV form in their given order (with header and trailing newline). */
export function measurementsToCsv(measurements: readonly ProfileMeasurement[]): string {
  const lines = measurements.map((m) => `${m.stage},${m.instruction},${m.frequencyMhz},${m.timeSeconds},${m.energyJoules}`);
  return `${COLUMNS.join(',')}\n${lines.join('\n')}\n`;
}

/** The clocks measured for every stage and instruction, highest first: the clocks a plan may use. */
export function commonClocksMhz(profile: StageProfile): number[] {
  const byKey = new Map<string, Set<number>>();
  for (const m of profile.measurements) {
    const key = `${m.stage}/${m.instruction}`;
    let set = byKey.get(key);
    if (set === undefined) byKey.set(key, (set = new Set()));
    set.add(m.frequencyMhz);
  }
  let common: number[] | undefined;
  for (const set of byKey.values()) common = common === undefined ? [...set] : common.filter((f) => set.has(f));
  return (common ?? []).sort((a, b) => b - a);
}

/** Looks up one measurement by (stage, instruction, clock); built once per profile for O(1) access. */
export class MeasurementTable {
  private readonly map = new Map<string, ProfileMeasurement>();
  constructor(readonly profile: StageProfile) {
    for (const m of profile.measurements) this.map.set(`${m.stage}/${m.instruction}/${m.frequencyMhz}`, m);
  }
  get(stage: number, instruction: Instruction, frequencyMhz: number): ProfileMeasurement {
    const m = this.map.get(`${stage}/${instruction}/${frequencyMhz}`);
    if (m === undefined) throw new RangeError(`no measurement for stage ${stage} ${instruction} at ${frequencyMhz} MHz`);
    return m;
  }
  /** All measurements of one (stage, instruction), highest clock first. */
  options(stage: number, instruction: Instruction): ProfileMeasurement[] {
    return this.profile.measurements
      .filter((m) => m.stage === stage && m.instruction === instruction)
      .sort((a, b) => b.frequencyMhz - a.frequencyMhz);
  }
}
