// Shared fixtures for planner tests: the bundled measured profiles, and small profiles cut from them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StageProfile } from '../../src/api/planner-types.ts';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';

export const DATA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'perseus-profiles');

export function loadProfile(name: string): StageProfile {
  return unwrap(parseStageProfileCsv(readFileSync(path.join(DATA_DIR, 'stage_profile', `${name}.csv`), 'utf8')));
}

export function loadGoldenFrontier(file: string): Array<[number, number]> {
  return readFileSync(path.join(DATA_DIR, 'emulation_frontier', 'a100_sxm', file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number) as [number, number]);
}

/** Keeps `stages` (renumbered 0…) and `clocks` of a measured profile. */
export function cutProfile(profile: StageProfile, stages: readonly number[], clocks: readonly number[]): StageProfile {
  return {
    stageCount: stages.length,
    measurements: profile.measurements
      .filter((m) => stages.includes(m.stage) && clocks.includes(m.frequencyMhz))
      .map((m) => ({ ...m, stage: stages.indexOf(m.stage) })),
  };
}
