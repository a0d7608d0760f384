// Checks the NVML binding against the node's real driver and writes the report as JSON (and a short table
// on stderr). Usage: node --import tsx scripts/gpu-check.ts [--nvml-library PATH] [--out FILE]
// Every clock it locks is reset before it exits. See scripts/device-check.sh for the GPU machine.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runDriverCheck } from '../src/nvml/driver-check.ts';
import { NvmlLibrary } from '../src/nvml/koffi-nvml.ts';

const { values } = parseArgs({ options: { 'nvml-library': { type: 'string' }, out: { type: 'string' }, 'window-ms': { type: 'string' } } });
const nvml = NvmlLibrary.open(values['nvml-library'] === undefined ? {} : { libraryPath: values['nvml-library'] });
try {
  const report = await runDriverCheck(nvml, { windowMs: Number(values['window-ms'] ?? 1000) });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (values.out === undefined) process.stdout.write(json);
  else writeFileSync(values.out, json);
  for (const g of report.gpus) {
    const lock = g.lockedClock.ok
      ? `lock ${g.lockedClock.lowMhz} MHz → SM ${g.lockedClock.smClockAtLowMhz} MHz, set p50 ${g.lockedClock.setLatencyMs.p50.toFixed(3)} ms max ${g.lockedClock.setLatencyMs.max.toFixed(3)} ms`
      : `lock failed: ${g.lockedClock.error}`;
    process.stderr.write(
      `GPU ${g.index} ${g.name} ${g.uuid}: ${g.graphicsClocksMhz.length} SM clocks ${g.graphicsClocksMhz.at(-1)}–${g.graphicsClocksMhz[0]} MHz; energy counter ${g.energy.counterWatts.toFixed(1)} W vs reported ${g.energy.reportedWatts.toFixed(1)} W; ${lock}; memory lock ${g.memoryLock.supported ? 'supported' : `not supported (${g.memoryLock.error ?? ''})`}\n`,
    );
  }
  process.stderr.write(`All touched clocks reset: ${report.allReset ? 'yes' : 'NO — reset by hand (nvidia-smi -rgc)'}\n`);
  process.exitCode = report.allReset ? 0 : 1;
} finally {
  nvml.close();
}
