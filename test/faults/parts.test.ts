// The fault suite's own parts, without a control plane: a crashed agent's fenced GPU handles, the TCP proxy
// that cuts, stalls and slows connections, and the seeded PRNG that makes a run repeatable.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { ManualSimTime } from '../../src/nvml/sim-clock.ts';
import { SimulatedGpu } from '../../src/nvml/simulated-gpu.ts';
import { parseStageProfileCsv, unwrap } from '../../src/planner/index.ts';
import { FencedGpu } from '../../src/sim/simulate/fenced-gpu.ts';
import { Prng } from './prng.ts';
import { TcpProxy } from './tcp-proxy.ts';

const profile = unwrap(parseStageProfileCsv(readFileSync(new URL('../fixtures/fake-nvml/profile.csv', import.meta.url), 'utf8')));

describe('fault suite parts', () => {
  it('a fenced GPU handle (its agent was SIGKILLed) changes no clock, and the GPU keeps the one it had', () => {
    const gpu = new SimulatedGpu({ index: 0, uuid: 'GPU-a', profile, time: new ManualSimTime() });
    const clocks = gpu.supportedGraphicsClocksMhz(gpu.supportedMemoryClocksMhz()[0]!);
    const handle = new FencedGpu(gpu);
    handle.setLockedGpuClocksMhz(clocks[2]!, clocks[2]!);
    assert.equal(gpu.lockedGpuClockMhz(), clocks[2]);
    handle.fence();
    handle.resetLockedGpuClocks();
    handle.setLockedGpuClocksMhz(clocks[0]!, clocks[0]!);
    assert.equal(gpu.lockedGpuClockMhz(), clocks[2], 'the dead agent reached no GPU');
    assert.equal(handle.smClockMhz(), gpu.smClockMhz(), 'reads still pass');
    const next = new FencedGpu(gpu); // the restarted agent's handle
    next.resetLockedGpuClocks();
    assert.equal(gpu.lockedGpuClockMhz(), undefined);
  });

  it('the PRNG repeats its sequence for a seed and stays in bounds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 50 }, () => a.int(3, 9));
    assert.deepEqual(Array.from({ length: 50 }, () => b.int(3, 9)), xs);
    assert.ok(xs.every((x) => x >= 3 && x <= 9));
    assert.equal(new Set(xs).size, 7, 'every value of the range is drawn');
    assert.notDeepEqual(Array.from({ length: 50 }, () => new Prng(43).int(3, 9)), xs);
  });

  describe('TCP proxy', () => {
    let echo: Server;
    let proxy: TcpProxy;
    let port: number;
    before(async () => {
      echo = createServer((s) => s.pipe(s));
      await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
      proxy = new TcpProxy('127.0.0.1', (echo.address() as { port: number }).port);
      port = await proxy.listen();
    });
    after(async () => {
      await proxy.close();
      await new Promise<void>((r) => echo.close(() => r()));
    });

    async function connect(): Promise<{ socket: Socket; received: () => string }> {
      const socket = createConnection(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (text += d));
      socket.on('error', () => undefined);
      await new Promise<void>((r) => socket.once('connect', () => r()));
      return { socket, received: () => text };
    }

    const until = async (cond: () => boolean): Promise<void> => {
      while (!cond()) await new Promise((r) => setTimeout(r, 5));
    };

    it('passes bytes both ways, holds them while stalled and delivers them once it passes again', async () => {
      const c = await connect();
      c.socket.write('a');
      await until(() => c.received() === 'a');
      proxy.setMode({ kind: 'stall' });
      c.socket.write('b');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(c.received(), 'a', 'nothing passes a stalled connection');
      proxy.setMode({ kind: 'pass' });
      await until(() => c.received() === 'ab');
      c.socket.destroy();
    });

    it('resets every open connection', async () => {
      const c = await connect();
      const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
      const before = proxy.resets;
      proxy.resetAll();
      await closed;
      assert.equal(proxy.resets, before + 1);
    });
  });
});
