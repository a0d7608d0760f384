// Agent hot-path benchmark: latency from a `begin` message leaving the training process to the NVML
// clock-set call, and the agent's CPU use, at 200 messages/s per GPU on 8 GPUs (fake libnvidia-ml).
// The load generator is a separate process; both sides timestamp with the monotonic clock (hrtime).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeAgent } from '../src/agent/agent.ts';
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
const setTimes: bigint[][] = Array.from({ length: GPUS }, () => []);
// The agent's own share of the latency: from the socket chunk reaching the agent's event loop to the set
// call (the rest is the kernel and the scheduler waking the agent on this machine).
let lastChunkAt = 0n;
const agentShareMs: number[] = [];
const push = LineSplitter.prototype.push;
LineSplitter.prototype.push = function (this: LineSplitter, chunk: Buffer): void {
  lastChunkAt = process.hrtime.bigint();
  push.call(this, chunk);
};
const nvmlSeconds: number[] = [];
// Timestamps every set call; the set calls of one GPU are in the order of its connection's begins.
const gpus: Gpu[] = nvml.gpus.map((gpu) =>
  Object.assign(Object.create(gpu) as Gpu, {
    setLockedGpuClocksMhz(min: number, max: number): void {
      const t0 = process.hrtime.bigint();
      setTimes[gpu.index]!.push(t0);
      agentShareMs.push(Number(t0 - lastChunkAt) / 1e6);
      gpu.setLockedGpuClocksMhz(min, max);
      nvmlSeconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    },
  }),
);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const agent = new NodeAgent({
  nodeName: 'bench',
  gpus,
  podGpus: { gpusForPod: (_ns, pod) => Promise.resolve([nvml.gpus[Number(pod.slice(1))]!.uuid]) },
  statusSink: { write: () => Promise.resolve() },
  apiServerLeaseMs: 0,
});
agent.start();
// Alternate clocks so that every begin is a real clock change.
const computations = Array.from({ length: MICROBATCHES }, (_, mb) => ({ instruction: 'forward' as const, microbatch: mb, chunk: 0, frequencyMhz: CLOCKS[mb % 2]! }));
for (let g = 0; g < GPUS; g++) {
  await agent.upsertRank({ namespace: 'bench', name: `r${g}`, job: 'bench', pipeline: 0, stage: g, podName: `p${g}`, mode: 'Run', tokenSha256: sha(`t${g}`), plan: { generation: 1, granularity: 'Instruction', stagePlan: { stage: g, computations } } });
}
for (const s of setTimes) s.length = 0;
agentShareMs.length = 0;
nvmlSeconds.length = 0;
const socketPath = join(dir, 'agent.sock');
const server = new AgentSocketServer(agent, { path: socketPath });
await server.listen();

const cpu0 = process.cpuUsage();
const wall0 = process.hrtime.bigint();
const timesPath = join(dir, 'sent.json');
// The load generator is plain JavaScript in its own process, as light as a training process's client.
const loader = fileURLToPath(new URL('./agent-load.mjs', import.meta.url));
const child = spawn(process.execPath, [loader, socketPath, timesPath, String(GPUS), String(RATE_PER_GPU), String(SECONDS), String(MICROBATCHES)], { stdio: ['ignore', 'inherit', 'inherit'] });
await new Promise((r) => child.on('exit', r));
const wallSeconds = Number(process.hrtime.bigint() - wall0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const sent = (JSON.parse(readFileSync(timesPath, 'utf8')) as string[][]).map((a) => a.map((t) => BigInt(t)));

const latencies: number[] = [];
for (let g = 0; g < GPUS; g++) {
  const s = sent[g]!;
  const t = setTimes[g]!;
  for (let i = 0; i < Math.min(s.length, t.length); i++) latencies.push(Number(t[i]! - s[i]!) / 1e6);
}
const pct = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const messages = sent.reduce((n, a) => n + a.length, 0);
const cpuPercent = ((cpu.user + cpu.system) / 1e6 / wallSeconds) * 100;
const rows: [string, string][] = [
  ['GPUs × rate', `${GPUS} × ${RATE_PER_GPU} msg/s (${messages} begins, ${latencies.length} clock sets)`],
  ['begin → NVML set p50', `${pct(latencies, 50).toFixed(3)} ms`],
  ['begin → NVML set p99', `${pct(latencies, 99).toFixed(3)} ms (target < 1 ms)`],
  ['begin → NVML set max', `${pct(latencies, 100).toFixed(3)} ms`],
  ['agent share p50 / p99', `${pct(agentShareMs, 50).toFixed(3)} ms / ${pct(agentShareMs, 99).toFixed(3)} ms (chunk in the agent's event loop → set call)`],
  ['NVML set call p50 / p99', `${(pct(nvmlSeconds, 50) * 1e6).toFixed(1)} µs / ${(pct(nvmlSeconds, 99) * 1e6).toFixed(1)} µs (fake library)`],
  ['agent CPU', `${cpuPercent.toFixed(1)} % of one core over ${wallSeconds.toFixed(1)} s (incl. the event loop's idle wakeups)`],
  ['agent RSS', `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`],
];
const w = Math.max(...rows.map((r) => r[0].length));
console.log(`| ${'metric'.padEnd(w)} | value |\n|${'-'.repeat(w + 2)}|-------|`);
for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
await server.close();
agent.shutdown();
nvml.close();
rmSync(dir, { recursive: true, force: true });
