// bench:apiserver: request throughput of the embedded API server over real HTTP, watch fan-out with 100
// concurrent watches, and resident memory with 10,000 stored objects. Prints a table; asserts nothing.
import { Agent, request } from 'node:http';
import { startApiServer } from '../src/sim/apiserver/index.ts';

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

function call(base: string, token: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${base}${path}`, { method, agent, headers: { Authorization: `Bearer ${token}`, ...(data === undefined ? {} : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) }) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function timed(n: number, concurrency: number, op: (i: number) => Promise<number>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const code = await op(i);
        if (code >= 300) throw new Error(`request ${i} failed with ${code}`);
      }
    }),
  );
  return n / ((performance.now() - start) / 1000);
}

const server = await startApiServer({ historySize: 20_000 });
const { url, token } = server;
await call(url, token, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } });
const rows: [string, string][] = [];
const n = 2000;
const cm = (i: number): unknown => ({ metadata: { name: `cm-${i}`, labels: { app: 'bench', shard: String(i % 10) } }, data: { key: 'x'.repeat(100) } });

rows.push(['create ConfigMap (req/s)', (await timed(n, 16, (i) => call(url, token, 'POST', '/api/v1/namespaces/bench/configmaps', cm(i)))).toFixed(0)]);
rows.push(['get ConfigMap (req/s)', (await timed(n, 16, (i) => call(url, token, 'GET', `/api/v1/namespaces/bench/configmaps/cm-${i}`))).toFixed(0)]);
rows.push(['merge patch ConfigMap (req/s)', (await timed(n, 16, (i) => call(url, token, 'PATCH', `/api/v1/namespaces/bench/configmaps/cm-${i}`, { data: { v: String(i) } }, 'application/merge-patch+json'))).toFixed(0)]);
rows.push(['list 100 of 2,000 by label (req/s)', (await timed(200, 8, (i) => call(url, token, 'GET', `/api/v1/namespaces/bench/configmaps?labelSelector=shard%3D${i % 10}&limit=100`))).toFixed(0)]);

// Watch fan-out: 100 watches on configmaps, then 1,000 writes; count delivered events.
const watchers = 100;
const writes = 1000;
let delivered = 0;
const expected = watchers * writes;
const allDelivered = new Promise<void>((resolve) => {
  const check = (): void => {
    if (delivered >= expected) resolve();
  };
  for (let w = 0; w < watchers; w++) {
    const req = request(`${url}/api/v1/namespaces/bench/configmaps?watch=true&resourceVersion=${server.resourceVersion()}`, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          buffered = buffered.slice(nl + 1);
          delivered++;
        }
        check();
      });
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    req.end();
  }
});
while (server.stats().watches < watchers) await new Promise((r) => setTimeout(r, 10));
const watchStart = performance.now();
await timed(writes, 16, (i) => call(url, token, 'PATCH', `/api/v1/namespaces/bench/configmaps/cm-${i}`, { data: { w: String(i) } }, 'application/merge-patch+json'));
await allDelivered;
const watchSeconds = (performance.now() - watchStart) / 1000;
rows.push([`watch events delivered, ${watchers} watches (events/s)`, (delivered / watchSeconds).toFixed(0)]);

// Memory: fill to 10,000 objects.
for (let i = n; i < 10_000; i += 500) {
  await timed(500, 16, (j) => call(url, token, 'POST', '/api/v1/namespaces/bench/configmaps', cm(i + j)));
}
global.gc?.();
rows.push(['stored objects', String(server.stats().objects)]);
rows.push(['open watches', String(server.stats().watches)]);
rows.push(['RSS with 10,000 objects + 100 watches (MiB)', (process.memoryUsage().rss / 1024 / 1024).toFixed(0)]);
rows.push(['heap used (MiB)', (process.memoryUsage().heapUsed / 1024 / 1024).toFixed(0)]);

const width = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(`${'metric'.padEnd(width)}  value\n${'-'.repeat(width)}  -----\n`);
for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
agent.destroy();
await server.stop();
process.exit(0);
