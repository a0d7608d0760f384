// Load generator of bench:agent: one connection per GPU/rank, a `begin` every 1/rate s, each send time
// (monotonic clock) written to a file at the end. Usage: node agent-load.mjs SOCKET TIMES GPUS RATE SECONDS MICROBATCHES
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';

const [socketPath, timesPath, gpus, rate, seconds, microbatches] = process.argv.slice(2);
const GPUS = Number(gpus);
const RATE = Number(rate);
const SECONDS = Number(seconds);
const MICROBATCHES = Number(microbatches);
const sent = [];
await Promise.all(
  Array.from({ length: GPUS }, (_, g) =>
    new Promise((resolve) => {
      const times = [];
      sent[g] = times;
      const s = connect(socketPath);
      s.on('data', () => undefined);
      s.once('connect', () => {
        s.write(`${JSON.stringify({ type: 'hello', v: 1, namespace: 'bench', rank: `r${g}`, pod: `p${g}`, token: `t${g}` })}\n`);
        setTimeout(() => {
          let i = 0;
          const timer = setInterval(() => {
            if (i >= SECONDS * RATE) {
              clearInterval(timer);
              s.end();
              resolve();
              return;
            }
            const line = `{"type":"begin","instruction":"forward","microbatch":${i % MICROBATCHES}}\n`;
            times.push(process.hrtime.bigint().toString());
            s.write(line);
            i++;
          }, 1000 / RATE);
        }, 300);
      });
    }),
  ),
);
writeFileSync(timesPath, JSON.stringify(sent));
