import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent } from '../../src/agent/agent.ts';
import { AgentSocketServer, LineSplitter } from '../../src/agent/socket-server.ts';
import { ManualSimTime } from '../../src/nvml/sim-clock.ts';
import { SimulatedGpu } from '../../src/nvml/simulated-gpu.ts';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { readFileSync } from 'node:fs';
import { createFakeNvml, fakeNvmlUnavailable } from '../nvml/fake-nvml.ts';
import { rankSpec } from './harness.ts';

const profile = unwrap(parseStageProfileCsv(readFileSync(new URL('../fixtures/fake-nvml/profile.csv', import.meta.url), 'utf8')));

function open(path: string): Promise<{ socket: Socket; lines: string[]; send: (s: string) => void; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines: string[] = [];
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, lines, send: (s) => socket.write(s), closed }));
    socket.once('error', reject);
  });
}

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('line framing', () => {
  it('splits lines across chunks and discards over-long lines', () => {
    const lines: string[] = [];
    const tooLong: number[] = [];
    const s = new LineSplitter(8, (l) => lines.push(l), (n) => tooLong.push(n));
    s.push(Buffer.from('ab'));
    s.push(Buffer.from('c\nde'));
    s.push(Buffer.from('f\n0123456789abc'));
    s.push(Buffer.from('def\nok\n'));
    s.push(Buffer.from('012345678\nz\n'));
    assert.deepEqual(lines, ['abc', 'def', 'ok', 'z']);
    assert.deepEqual(tooLong, [13, 9]);
  });
});

describe('agent socket server', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'agent-sock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('survives 10,000 hostile messages with bounded memory and keeps serving a legitimate client', async () => {
    const gpus = [0, 1].map((i) => new SimulatedGpu({ index: i, uuid: `GPU-${i}`, profile, time: new ManualSimTime() }));
    const pods = new Map([['team/job-worker-1', ['GPU-1']]]);
    const agent = new NodeAgent({
      nodeName: 'n',
      gpus,
      podGpus: { gpusForPod: (ns, p) => Promise.resolve(pods.get(`${ns}/${p}`) ?? []) },
      statusSink: { write: () => Promise.resolve() },
      apiServerLeaseMs: 0,
      messagesPerSecond: 500,
      messageBurst: 500,
    });
    agent.start();
    const computations = [0, 1, 2].map((mb) => ({ instruction: 'forward' as const, microbatch: mb, chunk: 0, frequencyMhz: [1410, 1290, 1350][mb]! }));
    await agent.upsertRank(rankSpec({ plan: { generation: 1, granularity: 'Instruction', stagePlan: { stage: 1, computations } } }));
    const path = join(dir, 'agent.sock');
    const server = new AgentSocketServer(agent, { path, helloDeadlineMs: 2000 });
    await server.listen();
    try {
      const legit = await open(path);
      legit.send(`${JSON.stringify({ type: 'hello', v: 1, namespace: 'team', rank: 'job-p0-s1', pod: 'job-worker-1', token: 'secret-1' })}\n`);
      await until(() => legit.lines.length === 1, 'hello reply');
      assert.equal(JSON.parse(legit.lines[0]!).ok, true);

      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const hostile = [
        'garbage',
        '{"type":"begin","instruction":"forward","microbatch":0}',
        '{"type":"hello","v":1,"namespace":"team","rank":"job-p0-s1","pod":"job-worker-1","token":"guess"}',
        '{"type":"hello","v":1,"namespace":"team","rank":"job-p0-s1","pod":"job-worker-1","token":"secret-1","gpus":["GPU-0"]}',
        '{"type":"begin","instruction":{"$gt":1},"microbatch":1e308}',
        `{"type":"begin","pad":"${'x'.repeat(70_000)}"}`,
        '\u0000\u0001\u0002{{{{',
        '{"type":"step_end","iterationSeconds":-1}',
      ];
      let sent = 0;
      const attackers = await Promise.all([0, 1, 2, 3].map(() => open(path)));
      for (let round = 0; sent < 10_000; round++) {
        for (const a of attackers) {
          const batch: string[] = [];
          for (let k = 0; k < 50 && sent < 10_000; k++, sent++) batch.push(hostile[(round + k) % hostile.length]!);
          if (!a.socket.destroyed) a.send(`${batch.join('\n')}\n`);
        }
        legit.send(`${JSON.stringify({ type: 'begin', instruction: 'forward', microbatch: round % 3 })}\n`);
        await new Promise((r) => setImmediate(r));
      }
      // A bound attacker floods a valid rank: its messages are rate limited, not queued.
      const flooder = await open(path);
      flooder.send(`${JSON.stringify({ type: 'hello', v: 1, namespace: 'team', rank: 'job-p0-s1', pod: 'job-worker-1', token: 'secret-1' })}\n`);
      await until(() => flooder.lines.length === 1, 'flooder hello');
      flooder.send(`${'{"type":"step_end","iterationSeconds":1}\n'.repeat(5000)}`);
      await until(() => flooder.lines.some((l) => l.includes('RateLimited')), 'rate limit reply');

      legit.send(`${JSON.stringify({ type: 'begin', instruction: 'forward', microbatch: 1 })}\n`);
      await until(() => gpus[1]!.lockedGpuClockMhz() === 1290, 'legitimate clock change after the flood');
      legit.send(`${JSON.stringify({ type: 'begin', instruction: 'forward', microbatch: 2 })}\n`);
      await until(() => gpus[1]!.lockedGpuClockMhz() === 1350, 'second legitimate clock change');
      assert.equal(gpus[0]!.lockedGpuClockMhz(), undefined, 'the other GPU was never locked');
      assert.equal(legit.lines.length, 1, 'the legitimate client got no error replies');

      const fresh = await open(path);
      fresh.send(`${JSON.stringify({ type: 'hello', v: 1, namespace: 'team', rank: 'job-p0-s1', pod: 'job-worker-1', token: 'secret-1' })}\n`);
      await until(() => fresh.lines.length === 1, 'a new client is served');
      assert.equal(JSON.parse(fresh.lines[0]!).ok, true);

      global.gc?.();
      const growthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
      assert.ok(growthMb < 64, `heap grew ${growthMb.toFixed(1)} MiB`);
      for (const a of [...attackers, legit, flooder, fresh]) a.socket.destroy();
    } finally {
      await server.close();
      agent.shutdown();
    }
  });

  it('resets every GPU when the agent process gets SIGTERM', async function () {
    const why = fakeNvmlUnavailable();
    if (why !== undefined) {
      console.warn(`Skipping SIGTERM test: ${why}`);
      this.skip();
    }
    const fake = createFakeNvml({ gpu_count: 3 });
    const socketPath = join(dir, 'agent.sock');
    const configPath = join(dir, 'agent.json');
    const spec = rankSpec({ plan: { generation: 1, granularity: 'Stage', stagePlan: { stage: 1, computations: [], frequencyMhz: 1290 } } });
    writeFileSync(configPath, JSON.stringify({ socketPath, nvmlLibrary: fake.libraryPath, ranks: [{ ...spec, gpus: ['GPU-fake-0001', 'GPU-fake-0002'] }] }));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/agent/serve-fake-agent.ts', configPath], { env: { ...process.env, FAKE_NVML_CONFIG: fake.configPath }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until(() => out.includes('READY'), 'agent ready', 20_000);
    const sets = fake.calls().filter((l) => l.startsWith('nvmlDeviceSetGpuLockedClocks'));
    assert.deepEqual(sets, ['nvmlDeviceSetGpuLockedClocks 1 1290 1290 -> 0', 'nvmlDeviceSetGpuLockedClocks 2 1290 1290 -> 0']);
    const mark = fake.calls().length;
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const after = fake.calls().slice(mark);
    for (const g of [0, 1, 2]) assert.ok(after.includes(`nvmlDeviceResetGpuLockedClocks ${g}  -> 0`), `GPU ${g} reset on SIGTERM: ${after.join(' | ')}`);
    assert.ok(after.includes('nvmlShutdown -1  -> 0'));
  });
});
