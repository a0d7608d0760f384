// Child process of priority.test.ts: sets the event-loop thread's nice value as `perseus agent` does and
// prints the outcome and every thread's nice value (from /proc), so the test sees which threads changed.
import { readdirSync, readFileSync } from 'node:fs';
import { setEventLoopNice } from '../../src/agent/priority.ts';

const threadNice = (tid: string): number => {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // Fields after "(comm) ": state is field 3, nice is field 19.
  return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[16]);
};
const outcome = setEventLoopNice(Number(process.argv[2]));
const threads = readdirSync('/proc/self/task').map((tid) => ({ tid: Number(tid), nice: threadNice(tid) }));
process.stdout.write(JSON.stringify({ pid: process.pid, outcome, threads }));
