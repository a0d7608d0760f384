// The simulate report's charts on a small made-up run: what energy.svg and iterations.svg draw, read back
// from the SVG text (axes, series values, bands, markers, legend placement), against the run's data.
import assert from 'node:assert/strict';
import type { IterationRecord } from '../../src/sim/simulate/fabric.ts';
import { baselineCumulativeJoules, powerPerIteration, renderEnergyChart, renderIterationsChart } from '../../src/sim/simulate/report-charts.ts';
import type { JobResult, SimulationResult } from '../../src/sim/simulate/simulation.ts';
import { levelAt, overlaps, parseChart } from './svg-chart.ts';

const IDLE_WATTS = 16 * 80;
const BASELINE = { iterationSeconds: 2.5, iterationEnergyJoules: 12_000 };

/** Iterations back to back from `startSeconds`: [seconds, joules] each. */
function iterations(world: string, startSeconds: number, runs: ReadonlyArray<readonly [number, number]>): IterationRecord[] {
  let t = startSeconds;
  return runs.map(([seconds, joules], iteration) => {
    const r = { world, iteration, startSeconds: t, endSeconds: t + seconds, pipelineSeconds: [seconds, seconds], energyJoules: joules };
    t += seconds;
    return r;
  });
}

/**
 * Pending 0, Profiling 10 (six iterations from 12 s on one pipeline), Planning 40, Running 50 (20 training
 * iterations from 55 s; pipeline 1 slowed for iterations 8–13; replans at iterations 10 and 15), Succeeded
 * 110. The GPUs idle at 1.28 kW outside iterations (and the profiling run's idle half beside it); energy
 * sampled every 5 s.
 */
function madeUpRun(): SimulationResult {
  const profiling = iterations('sim/job/profiler', 12, [4, 4, 4, 4, 4, 4].map((s, i) => [s, 8000 - 700 * i] as const));
  const training = iterations(
    'sim/job/worker',
    55,
    Array.from({ length: 20 }, (_, i) => (i >= 8 && i < 14 ? ([3, 11_000 + (i >= 10 ? -600 : 0)] as const) : ([2.5, i < 8 ? 10_000 : 9_800] as const))),
  );
  const powerAt = (t: number): number => {
    const p = profiling.find((r) => r.startSeconds <= t && t < r.endSeconds);
    if (p !== undefined) return p.energyJoules / (p.endSeconds - p.startSeconds) + IDLE_WATTS / 2;
    const r = training.find((q) => q.startSeconds <= t && t < q.endSeconds);
    return r === undefined ? IDLE_WATTS : r.energyJoules / (r.endSeconds - r.startSeconds);
  };
  const energy: Array<[number, number, number]> = [];
  let joules = 0;
  for (let t = 0; t <= 115; t += 0.5) {
    if (t % 5 === 0) energy.push([t, joules, powerAt(t)]);
    joules += powerAt(t) * 0.5;
  }
  const at = (iteration: number): number => training[iteration - 1]!.endSeconds + 0.1;
  const job: JobResult = {
    namespace: 'sim',
    name: 'job',
    stages: 8,
    pipelines: 2,
    microbatches: 12,
    phases: [
      { phase: 'Pending', atSeconds: 0 },
      { phase: 'Profiling', atSeconds: 10 },
      { phase: 'Planning', atSeconds: 40 },
      { phase: 'Running', atSeconds: 50 },
      { phase: 'Succeeded', atSeconds: 110 },
    ],
    generations: [
      { generation: 1, atSeconds: 50, iteration: 0, stragglers: [] },
      { generation: 2, atSeconds: at(10), iteration: 10, stragglers: [1] },
      { generation: 3, atSeconds: at(15), iteration: 15, stragglers: [] },
    ],
    status: undefined,
    profileCheck: undefined,
    baseline: BASELINE,
    profiling,
    training,
  };
  return {
    jobs: [job],
    nodes: 2,
    gpusPerNode: 8,
    gpuName: 'A100',
    timeScale: 200,
    straggler: { pipeline: 1, factor: 1.2, atIteration: 8, untilIteration: 14 },
    wallSeconds: 1,
    simulatedSeconds: 115,
    energy,
    clocksResetAtEnd: true,
    lockedClocksAtEnd: [],
  };
}

describe('simulate report charts', () => {
  const result = madeUpRun();
  const job = result.jobs[0]!;
  const energySvg = renderEnergyChart(result);
  const energy = parseChart(energySvg);
  const iterationsSvg = renderIterationsChart(result);
  const perIteration = parseChart(iterationsSvg);

  it('energy.svg: cumulative energy in MJ on the left axis, average power per iteration in kW on the right', () => {
    assert.equal(energy.y.label, 'cumulative energy (MJ)');
    assert.equal(energy.y2?.label, 'average power per iteration (kW)');
    assert.equal(energy.x.label, 'simulated time (s)');
    // The run's curve ends at the last sample's energy.
    const run = energy.lines.get('run: cumulative energy, every GPU (MJ)')!;
    const end = run[run.length - 1]!.at(-1)!;
    const last = result.energy[result.energy.length - 1]!;
    assert.ok(Math.abs(energy.x.value(end[0]) - last[0]) < 0.1, `x ${energy.x.value(end[0])}`);
    assert.ok(Math.abs(energy.y.value(end[1]) - last[1] / 1e6) < 0.002, `y ${energy.y.value(end[1])} vs ${last[1] / 1e6}`);
  });

  it('power per iteration is each iteration’s energy over its time, as computed and as drawn', () => {
    for (const [name, records] of [
      ['training: power / iteration (kW)', job.training],
      ['profiling: power / iteration (kW)', job.profiling],
    ] as const) {
      const steps = powerPerIteration(records);
      assert.equal(steps.length, records.length);
      const line = energy.lines.get(name);
      assert.ok(line !== undefined, `series ${name}`);
      records.forEach((r, i) => {
        const watts = r.energyJoules / (r.endSeconds - r.startSeconds);
        assert.equal(steps[i]!.powerWatts, watts);
        const y = levelAt(line, energy.x.pixel((r.startSeconds + r.endSeconds) / 2));
        assert.ok(y !== undefined, `${name}: iteration ${r.iteration} drawn`);
        const drawnKw = energy.y2!.value(y);
        assert.ok(Math.abs(drawnKw - watts / 1000) < 0.005, `${name}: iteration ${r.iteration}: drawn ${drawnKw} kW, energy/time ${watts / 1000} kW`);
      });
    }
    // The straggler's iterations draw less power (same work, longer): 11 kJ / 3 s against 10 kJ / 2.5 s.
    assert.ok(powerPerIteration(job.training)[8]!.powerWatts < powerPerIteration(job.training)[7]!.powerWatts);
    // Not a line across the planning gap: the profiling and training power are separate series, each one piece.
    assert.equal(energy.lines.get('training: power / iteration (kW)')!.length, 1);
  });

  it('draws the all-max baseline’s cumulative energy beside the run’s', () => {
    const points = baselineCumulativeJoules(result);
    const firstStart = job.training[0]!.startSeconds;
    assert.ok(points[0]![0] < firstStart && points[1]![0] >= firstStart, 'from the last sample before training');
    for (const [t, joules] of points) {
      const sample = result.energy.find((e) => e[0] === t)!;
      const extra = job.training.filter((r) => r.endSeconds <= t).reduce((a, r) => a + BASELINE.iterationEnergyJoules - r.energyJoules, 0);
      assert.equal(joules, sample[1] + extra);
    }
    // After the run, the baseline is above the run by the whole saving of the 20 iterations.
    const saving = job.training.reduce((a, r) => a + BASELINE.iterationEnergyJoules - r.energyJoules, 0);
    assert.equal(saving, 8 * 2000 + 2 * 1000 + 4 * 1600 + 6 * 2200);
    const line = energy.lines.get('all-max baseline: cumulative energy (MJ)');
    assert.ok(line !== undefined, 'baseline series drawn');
    const end = line.at(-1)!.at(-1)!;
    assert.ok(Math.abs(energy.y.value(end[1]) - (result.energy.at(-1)![1] + saving) / 1e6) < 0.002);
  });

  it('shades Profiling, Planning and the straggler period, labelled, and marks the replans', () => {
    const band = (label: string) => {
      const b = energy.bands.find((x) => x.label === label);
      assert.ok(b !== undefined, `band ${label}: ${energy.bands.map((x) => x.label).join(', ')}`);
      return { from: energy.x.value(b.x), to: energy.x.value(b.x + b.width) };
    };
    const near = (a: number, b: number) => Math.abs(a - b) < 0.2;
    const profiling = band('Profiling');
    assert.ok(near(profiling.from, 10) && near(profiling.to, 40), JSON.stringify(profiling));
    const planning = band('Planning');
    assert.ok(near(planning.from, 40) && near(planning.to, 50), JSON.stringify(planning));
    const straggler = band('straggler: pipeline 1 ×1.2');
    assert.ok(near(straggler.from, job.training[8]!.startSeconds) && near(straggler.to, job.training[13]!.endSeconds), JSON.stringify(straggler));
    assert.equal(energy.bands.length, 3);
    assert.deepEqual(
      energy.markers.map((m) => m.label),
      ['g2', 'g3'],
    );
    energy.markers.forEach((m, i) => assert.ok(near(energy.x.value(m.x), job.generations[i + 1]!.atSeconds)));
    for (const label of ['Profiling', 'Planning', 'straggler: pipeline 1 ×1.2', 'replan: plan generation gN']) assert.ok(energy.legendText.includes(label), label);
  });

  it('places the legends below the plot areas, naming every series', () => {
    for (const [chart, names] of [
      [energy, ['run: cumulative energy, every GPU (MJ)', 'all-max baseline: cumulative energy (MJ)', 'profiling: power / iteration (kW)', 'training: power / iteration (kW)']],
      [perIteration, ['energy / iteration (J)', 'all-max baseline (J)']],
    ] as const) {
      assert.ok(chart.legend !== undefined);
      assert.equal(overlaps(chart.legend, chart.plot), false, `legend ${JSON.stringify(chart.legend)} plot ${JSON.stringify(chart.plot)}`);
      assert.ok(chart.legend.y >= chart.plot.y + chart.plot.height + 30, 'below the x axis and its label');
      for (const n of names) assert.ok(chart.legendText.includes(n), n);
    }
  });

  it('iterations.svg: energy per iteration against the all-max baseline, straggler shaded, replans marked', () => {
    assert.equal(perIteration.y.label, 'energy per iteration (J)');
    assert.equal(perIteration.x.label, 'training iteration');
    const baseline = perIteration.lines.get('all-max baseline (J)')!;
    for (const [, y] of baseline.flat()) assert.ok(Math.abs(perIteration.y.value(y) - BASELINE.iterationEnergyJoules) < 5);
    const measured = perIteration.lines.get('energy / iteration (J)')!.flat();
    assert.ok(Math.abs(perIteration.y.value(measured[0]![1]) - 10_000) < 5);
    assert.equal(perIteration.bands.length, 1);
    const b = perIteration.bands[0]!;
    assert.equal(b.label, 'straggler: pipeline 1 ×1.2');
    assert.ok(Math.abs(perIteration.x.value(b.x) - 8) < 0.05 && Math.abs(perIteration.x.value(b.x + b.width) - 14) < 0.05);
    assert.deepEqual(
      perIteration.markers.map((m) => Math.round(perIteration.x.value(m.x))),
      [10, 15],
    );
  });

  it('keeps the documents self-contained and small', () => {
    for (const svg of [energySvg, iterationsSvg]) {
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
      assert.doesNotMatch(svg, /href|<script|<style|@import|url\(/);
      assert.ok(svg.length < 12_000, `${svg.length} bytes`);
    }
  });
});
