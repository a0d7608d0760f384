// One training connection of the local training API: hello first (rank authorization by the agent), a
// token-bucket rate limit, and routing of begin/end/stepEnd messages to the agent. Never throws.
import type { AgentClock } from './clock.ts';
import type { Instruction } from '../api/planner-types.ts';
import { MAX_LINE_BYTES, parseClientMessage, type ErrorCode, type ErrorReply, type HelloMessage, type ServerReply } from './protocol.ts';
import type { Denial } from './rank-authorization.ts';
import type { BoundSession, RankState } from './rank-state.ts';
import type { AgentLogger, RankKey } from './types.ts';

export type BindResult = { ok: true; rank: RankState; gpus: readonly string[] } | Denial;

/** What a session needs of the node agent (NodeAgent implements it). */
export interface SessionHost {
  readonly clock: AgentClock;
  readonly logger: AgentLogger;
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  bind(session: AgentSession, hello: HelloMessage): Promise<BindResult>;
  unbound(session: AgentSession, rank: RankState): void;
  begin(session: AgentSession, rank: RankState, gpus: readonly string[], instruction: Instruction, microbatch: number, chunk: number): ErrorReply | undefined;
  end(session: AgentSession, rank: RankState): void;
  stepEnd(session: AgentSession, rank: RankState, iterationSeconds: number): void;
  helloReply(rank: RankState, gpus: readonly string[]): ServerReply;
  noteRejected(code: ErrorCode): void;
  /** A line was handled on a connection bound to `rank`. */
  lineHandled(rank: RankState): void;
  sessionClosed(session: AgentSession): void;
}

/** One training connection: parses lines, enforces hello-first, rate limits, and routes to the agent. */
export class AgentSession implements BoundSession {
  private rank: RankState | undefined;
  private gpus: readonly string[] = [];
  private binding = false;
  private tokens: number;
  private lastRefillMs: number;
  private lastRateErrorMs = -Infinity;
  private failedHellos = 0;
  private closed = false;
  /** Messages dropped by the rate limiter. */
  dropped = 0;

  constructor(
    private readonly agent: SessionHost,
    private readonly send: (reply: ServerReply) => void,
    private readonly closeConnection: () => void,
  ) {
    this.tokens = agent.messageBurst;
    this.lastRefillMs = agent.clock.nowMs();
  }

  get boundRank(): RankKey | undefined {
    return this.rank ? { namespace: this.rank.spec.namespace, name: this.rank.spec.name } : undefined;
  }

  get boundGpus(): readonly string[] {
    return this.gpus;
  }

  /** Handles one line (without the newline). Never throws. */
  handleLine(line: string): void {
    this.process(line);
    if (this.rank !== undefined) this.agent.lineHandled(this.rank);
  }

  private process(line: string): void {
    if (this.closed) return;
    if (!this.admit()) return;
    if (line.length > MAX_LINE_BYTES) {
      this.reject({ type: 'error', code: 'LineTooLong', field: '(line)', expected: `at most ${MAX_LINE_BYTES} bytes per line`, message: `line of ${line.length} bytes dropped` });
      return;
    }
    const parsed = parseClientMessage(line);
    if (!parsed.ok) {
      this.reject(parsed.error);
      return;
    }
    const m = parsed.message;
    try {
      if (m.type === 'hello') {
        this.hello(m);
        return;
      }
      const rank = this.rank;
      if (rank === undefined) {
        this.reject({ type: 'error', code: 'Unauthorized', field: 'type', expected: '"hello" first', message: this.binding ? 'hello is still being processed' : 'send hello before other messages' });
        return;
      }
      if (m.type === 'begin') {
        const err = this.agent.begin(this, rank, this.gpus, m.instruction, m.microbatch, m.chunk);
        if (err) this.reject(err);
      } else if (m.type === 'end') this.agent.end(this, rank);
      else this.agent.stepEnd(this, rank, m.iterationSeconds);
    } catch (err) {
      this.agent.logger.error('Failed to handle a training message', { error: (err as Error).message });
      this.reject({ type: 'error', code: 'Internal', message: 'internal error; the message was dropped' });
    }
  }

  /** Reports a line that exceeded the length cap (the framing layer discarded it). */
  lineTooLong(bytes: number): void {
    if (this.admit()) this.reject({ type: 'error', code: 'LineTooLong', field: '(line)', expected: `at most ${MAX_LINE_BYTES} bytes per line`, message: `line of ${bytes}+ bytes dropped` });
  }

  /** The connection closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.rank) this.agent.unbound(this, this.rank);
    this.rank = undefined;
    this.agent.sessionClosed(this);
  }

  /** @internal The agent withdrew the rank (removed or reassigned): the connection is closed. */
  unbind(reason: string): void {
    if (this.rank === undefined) return;
    this.rank.sessions.delete(this);
    if (this.rank.primary === this) this.rank.primary = undefined;
    this.rank = undefined;
    this.reject({ type: 'error', code: 'Forbidden', message: reason });
    this.closed = true;
    this.agent.sessionClosed(this);
    this.closeConnection();
  }

  private hello(m: HelloMessage): void {
    if (this.rank !== undefined || this.binding) {
      this.reject({ type: 'error', code: 'BadRequest', field: 'type', expected: 'one hello per connection', message: 'this connection is already bound' });
      return;
    }
    this.binding = true;
    this.agent.bind(this, m).then(
      (r) => {
        this.binding = false;
        if (this.closed) {
          if (r.ok) this.agent.unbound(this, r.rank);
          return;
        }
        if (!r.ok) {
          this.reject(r.error);
          if (++this.failedHellos >= 3) this.shut();
          return;
        }
        this.rank = r.rank;
        this.gpus = r.gpus;
        this.send(this.agent.helloReply(r.rank, r.gpus));
      },
      (err: unknown) => {
        this.binding = false;
        this.reject({ type: 'error', code: 'Internal', message: `hello failed: ${(err as Error).message}` });
      },
    );
  }

  private shut(): void {
    this.close();
    this.closeConnection();
  }

  /** Token bucket; over the limit, drop the message and say so at most once per second. */
  private admit(): boolean {
    const now = this.agent.clock.nowMs();
    const elapsed = now - this.lastRefillMs;
    if (elapsed > 0) {
      this.tokens = Math.min(this.agent.messageBurst, this.tokens + (elapsed * this.agent.messagesPerSecond) / 1000);
      this.lastRefillMs = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    if (now - this.lastRateErrorMs >= 1000) {
      this.lastRateErrorMs = now;
      this.reject({ type: 'error', code: 'RateLimited', expected: `at most ${this.agent.messagesPerSecond} messages per second`, message: 'messages are being dropped' });
    }
    return false;
  }

  private reject(error: ErrorReply): void {
    this.agent.noteRejected(error.code);
    this.send(error);
  }
}
