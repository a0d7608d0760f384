// Agent hot-path benchmark: latency from a `begin` message leaving the training process to the NVML
// clock-set call, and the agent's CPU use, at 200 messages/s per GPU on 8 GPUs (fake libnvidia-ml).
// The load generator is a separate process at the default priority (as a training process is); both sides
// timestamp with the monotonic clock (hrtime). It runs twice: with the agent's event-loop thread at nice 0,
// then at the agent's default nice value (src/agent/priority.ts), which is what `perseus agent` runs with.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeAgent } from '../src/agent/agent.ts';
import { DEFAULT_EVENT_LOOP_NICE, setEventLoopNice } from '../src/agent/priority.ts';
import { AgentSocketServer, LineSplitter } from '../src/agent/socket-server.ts';
import type { Gpu } from '../src/nvml/gpu.ts';
import { NvmlLibrary } from '../src/nvml/koffi-nvml.ts';
import { createFakeNvml, fakeNvmlUnavailable } from '../test/nvml/fake-nvml.ts';

const GPUS = 8;
const RATE_PER_GPU = 200;
const SECONDS = Number(process.env.BENCH_AGENT_SECONDS ?? 10);
const MICROBATCHES = 4096;
const CLOCKS = [1410, 1290];

const why = fakeNvmlUnavailable();
if (why !== undefined) {
  console.error(`bench:agent needs the fake NVML library: ${why}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'bench-agent-'));
const fake = createFakeNvml({ gpu_count: GPUS, log: '/dev/null', graphics_clocks: CLOCKS.join(',') });
const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });

/** What one phase records; the hooks below write into the current one. */
interface Recording {
  readonly setTimes: bigint[][];
  readonly agentShareMs: number[];
  readonly nvmlSeconds: number[];
}
const newRecording = (): Recording => ({ setTimes: Array.from({ length: GPUS }, () => []), agentShareMs: [], nvmlSeconds: [] });
let rec = newRecording();
// The agent's own share of the latency: from the socket chunk reaching the agent's event loop to the set
// call (the rest is the kernel and the scheduler running the agent's thread once the bytes arrive).
let lastChunkAt = 0n;
const push = LineSplitter.prototype.push;
LineSplitter.prototype.push = function (this: LineSplitter, chunk: Buffer): void {
  lastChunkAt = process.hrtime.bigint();
  push.call(this, chunk);
};
// Timestamps every set call; the set calls of one GPU are in the order of its connection's begins.
const gpus: Gpu[] = nvml.gpus.map((gpu) =>
  Object.assign(Object.create(gpu) as Gpu, {
    setLockedGpuClocksMhz(min: number, max: number): void {
      const t0 = process.hrtime.bigint();
      rec.setTimes[gpu.index]!.push(t0);
      rec.agentShareMs.push(Number(t0 - lastChunkAt) / 1e6);
      gpu.setLockedGpuClocksMhz(min, max);
      rec.nvmlSeconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    },
  }),
);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const pct = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
// Alternate clocks so that every begin is a real clock change.
const computations = Array.from({ length: MICROBATCHES }, (_, mb) => ({ instruction: 'forward' as const, microbatch: mb, chunk: 0, frequencyMhz: CLOCKS[mb % 2]! }));
const loader = fileURLToPath(new URL('./agent-load.mjs', import.meta.url));

interface PhaseResult {
  readonly nice: string;
  readonly messages: number;
  readonly latencies: number[];
  readonly recording: Recording;
  readonly cpuPercent: number;
  readonly wallSeconds: number;
}

async function phase(niceValue: number, label: string): Promise<PhaseResult> {
  const outcome = setEventLoopNice(niceValue);
  const nice = outcome.applied ? `${outcome.nice}${label}` : `${outcome.nice} (asked ${niceValue}: ${outcome.reason})`;
  const agent = new NodeAgent({
    nodeName: 'bench',
    gpus,
    podGpus: { gpusForPod: (_ns, pod) => Promise.resolve([nvml.gpus[Number(pod.slice(1))]!.uuid]) },
    statusSink: { write: () => Promise.resolve() },
    apiServerLeaseMs: 0,
  });
  agent.start();
  for (let g = 0; g < GPUS; g++) {
    await agent.upsertRank({ namespace: 'bench', name: `r${g}`, job: 'bench', pipeline: 0, stage: g, podName: `p${g}`, mode: 'Run', tokenSha256: sha(`t${g}`), plan: { generation: 1, granularity: 'Instruction', stagePlan: { stage: g, computations } } });
  }
  rec = newRecording();
  const socketPath = join(dir, 'agent.sock');
  const server = new AgentSocketServer(agent, { path: socketPath });
  await server.listen();
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  const timesPath = join(dir, 'sent.json');
  // The load generator is plain JavaScript in its own process, as light as a training process's client.
  const child = spawn(process.execPath, [loader, socketPath, timesPath, String(GPUS), String(RATE_PER_GPU), String(SECONDS), String(MICROBATCHES)], { stdio: ['ignore', 'inherit', 'inherit'] });
  // A child inherits the nice value of the thread that forked it; the training process runs at the default.
  if (child.pid !== undefined) setPriority(child.pid, 0);
  await new Promise((r) => child.on('exit', r));
  const wallSeconds = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const sent = (JSON.parse(readFileSync(timesPath, 'utf8')) as string[][]).map((a) => a.map((t) => BigInt(t)));
  const latencies: number[] = [];
  for (let g = 0; g < GPUS; g++) {
    const s = sent[g]!;
    const t = rec.setTimes[g]!;
    for (let i = 0; i < Math.min(s.length, t.length); i++) latencies.push(Number(t[i]! - s[i]!) / 1e6);
  }
  await server.close();
  agent.shutdown();
  return { nice, messages: sent.reduce((n, a) => n + a.length, 0), latencies, recording: rec, cpuPercent: ((cpu.user + cpu.system) / 1e6 / wallSeconds) * 100, wallSeconds };
}

const results = [await phase(0, ''), await phase(DEFAULT_EVENT_LOOP_NICE, ' (the agent\'s default)')];
const ms = (x: number): string => `${x.toFixed(3)} ms`;
const rows: [string, ...string[]][] = [
  ['event-loop thread nice', ...results.map((r) => r.nice)],
  ['GPUs × rate', ...results.map((r) => `${GPUS} × ${RATE_PER_GPU} msg/s (${r.messages} begins, ${r.latencies.length} clock sets)`)],
  ['begin → NVML set p50', ...results.map((r) => ms(pct(r.latencies, 50)))],
  ['begin → NVML set p99 (target < 1 ms)', ...results.map((r) => ms(pct(r.latencies, 99)))],
  ['begin → NVML set max', ...results.map((r) => ms(pct(r.latencies, 100)))],
  ['agent share p50 / p99 (chunk in the event loop → set call)', ...results.map((r) => `${ms(pct(r.recording.agentShareMs, 50))} / ${ms(pct(r.recording.agentShareMs, 99))}`)],
  ['NVML set call p50 / p99 (fake library)', ...results.map((r) => `${(pct(r.recording.nvmlSeconds, 50) * 1e6).toFixed(1)} µs / ${(pct(r.recording.nvmlSeconds, 99) * 1e6).toFixed(1)} µs`)],
  ['agent CPU (% of one core, incl. idle wakeups)', ...results.map((r) => `${r.cpuPercent.toFixed(1)} % over ${r.wallSeconds.toFixed(1)} s`)],
];
const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => (r[c] ?? '').length), c === 0 ? 6 : 10));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(line(['metric', 'run 1', 'run 2']));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
console.log(`agent RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
nvml.close();
rmSync(dir, { recursive: true, force: true });
