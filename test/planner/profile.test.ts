import assert from 'node:assert/strict';
import { parseStageProfileCsv, parseStageProfileJson, stageProfileToCsv } from '../../src/planner/index.ts';
import { loadProfile } from './helpers.ts';

const header = 'stage,instruction,frequency,time,energy';
const good = [header, '0,forward,1410,0.05,20', '0,backward,1410,0.1,40', '1,forward,1410,0.05,20', '1,backward,1410,0.1,40'];

describe('stage profile parsing', () => {
  it('parses the bundled profiles and round-trips through CSV', () => {
    const p = loadProfile('gpt3-175b+a100_sxm_bf16');
    assert.equal(p.stageCount, 8);
    assert.equal(p.measurements.length, 8 * 2 * 38);
    const again = parseStageProfileCsv(stageProfileToCsv(p));
    assert.ok(again.ok);
    assert.equal(again.value.measurements.length, p.measurements.length);
  });

  const cases: Array<[string, string[], RegExp]> = [
    ['missing column', ['stage,instruction,frequency,time', '0,forward,1410,0.05'], /row 1 \(header\).*missing column\(s\) energy/],
    ['wrong cell count', [...good, '1,forward,1395,0.05'], /row 6.*expected 5 cells, got 4/],
    ['negative time', [...good, '1,forward,1395,-0.05,20'], /row 6, column time.*positive finite time/],
    ['zero energy', [...good, '1,forward,1395,0.05,0'], /row 6, column energy.*positive finite energy/],
    ['non-finite time', [...good, '1,forward,1395,NaN,20'], /row 6, column time/],
    ['unknown instruction', [...good, '1,sideways,1395,0.05,20'], /row 6, column instruction.*forward, backward/],
    ['fractional clock', [...good, '1,forward,1395.5,0.05,20'], /row 6, column frequency.*positive integer clock/],
    ['negative stage', [...good, '-1,forward,1395,0.05,20'], /row 6, column stage/],
    ['duplicate row', [...good, '1,forward,1410,0.05,20'], /row 6.*duplicate measurement of stage 1 forward at 1410 MHz \(first at row 4\)/],
    ['missing stage', [header, '0,forward,1410,0.05,20', '0,backward,1410,0.1,40', '2,forward,1410,0.05,20', '2,backward,1410,0.1,40'], /stage 1.*missing forward/],
    ['no shared clock', [header, '0,forward,1410,0.05,20', '0,backward,1410,0.1,40', '1,forward,1395,0.05,20', '1,backward,1395,0.1,40'], /no clock in common/],
    ['empty', [header], /no measurements/],
  ];
  for (const [name, lines, expected] of cases) {
    it(`rejects a profile with ${name}, naming the place`, () => {
      const r = parseStageProfileCsv(lines.join('\n'));
      assert.equal(r.ok, false);
      if (r.ok) return;
      const text = r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
      assert.match(text, expected);
    });
  }

  it('parses the JSON form with blocking power and reports JSON paths', () => {
    const ok = parseStageProfileJson(
      JSON.stringify({
        blockingPowerWatts: 70,
        measurements: [
          { stage: 0, instruction: 'forward', frequencyMhz: 1410, timeSeconds: 0.05, energyJoules: 20 },
          { stage: 0, instruction: 'backward', frequencyMhz: 1410, timeSeconds: 0.1, energyJoules: 40 },
        ],
      }),
    );
    assert.ok(ok.ok);
    assert.equal(ok.value.blockingPowerWatts, 70);
    const bad = parseStageProfileJson(JSON.stringify({ measurements: [{ stage: 0, instruction: 'forward', frequencyMhz: 1410, timeSeconds: 'x', energyJoules: 20 }] }));
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.issues[0]!.path, /\$\.measurements\[0\]\.timeSeconds/);
    const notJson = parseStageProfileJson('{');
    assert.equal(notJson.ok, false);
  });
});
