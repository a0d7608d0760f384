// Test support: a NodeAgent on the fake NVML library (manual time) with a static pod → GPU map, a
// recording status sink, and a simulated training loop that sets the fake's power from a profile.
import { createHash } from 'node:crypto';
import type { Instruction, StageProfile } from '../../src/api/planner-types.ts';
import { NodeAgent } from '../../src/agent/agent.ts';
import type { AgentSession } from '../../src/agent/training-session.ts';
import { ManualClock } from '../../src/agent/clock.ts';
import type { ServerReply } from '../../src/agent/protocol.ts';
import type { AgentRankSpec, AgentRankStatus, RankKey } from '../../src/agent/types.ts';
import { NvmlLibrary } from '../../src/nvml/koffi-nvml.ts';
import { createFakeNvml, type FakeNvml } from '../nvml/fake-nvml.ts';

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface Harness {
  fake: FakeNvml;
  nvml: NvmlLibrary;
  agent: NodeAgent;
  clock: ManualClock;
  statuses: { key: RankKey; status: AgentRankStatus }[];
  pods: Map<string, string[]>;
  /** Moves agent time and fake NVML time together. */
  advance(seconds: number): void;
  connect(): { session: AgentSession; replies: ServerReply[]; closed: () => boolean };
  close(): void;
}

export function createHarness(config: Record<string, string | number> = {}, agentOptions: { connectionGraceMs?: number; apiServerLeaseMs?: number; statusIntervalMs?: number; messagesPerSecond?: number; messageBurst?: number } = {}): Harness {
  const fake = createFakeNvml({ gpu_count: 4, time: 'manual', ...config });
  const nvml = NvmlLibrary.open({ libraryPath: fake.libraryPath });
  const clock = new ManualClock(1000);
  const statuses: Harness['statuses'] = [];
  const pods = new Map<string, string[]>();
  const agent = new NodeAgent({
    nodeName: 'node-a',
    gpus: nvml.gpus,
    clock,
    podGpus: { gpusForPod: (ns, pod) => Promise.resolve(pods.get(`${ns}/${pod}`) ?? []) },
    statusSink: { write: (key, status) => (statuses.push({ key, status }), Promise.resolve()) },
    ...agentOptions,
  });
  return {
    fake,
    nvml,
    agent,
    clock,
    statuses,
    pods,
    advance(seconds) {
      fake.advanceSeconds(seconds);
      clock.advance(seconds * 1000);
    },
    connect() {
      const replies: ServerReply[] = [];
      let closed = false;
      const session = agent.openSession((r) => replies.push(r), () => (closed = true));
      return { session, replies, closed: () => closed };
    },
    close() {
      agent.shutdown();
      nvml.close();
    },
  };
}

export function rankSpec(overrides: Partial<AgentRankSpec> = {}): AgentRankSpec {
  return {
    namespace: 'team',
    name: 'job-p0-s1',
    job: 'job',
    pipeline: 0,
    stage: 1,
    podName: 'job-worker-1',
    mode: 'Run',
    tokenSha256: sha256('secret-1'),
    ...overrides,
  };
}

/** Lets promise callbacks (hello binding, status writes) run. */
export const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Time and energy of one computation at a clock, from a profile (highest profiled clock ≤ the clock). */
export function profileCost(profile: StageProfile, stage: number, instruction: Instruction, clockMhz: number): { t: number; e: number } {
  const rows = profile.measurements.filter((m) => m.stage === stage && m.instruction === instruction).sort((a, b) => b.frequencyMhz - a.frequencyMhz);
  const row = rows.find((m) => m.frequencyMhz <= clockMhz) ?? rows[rows.length - 1]!;
  return { t: row.timeSeconds, e: row.energyJoules };
}
