// The local training API on a Unix socket: framing (newline-delimited, capped line length), connection
// limits, hello deadline and reply backpressure. Message semantics live in training-session.ts.
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { NodeAgent } from './agent.ts';
import type { AgentSession } from './training-session.ts';
import { MAX_LINE_BYTES, type ServerReply } from './protocol.ts';

export interface SocketServerOptions {
  /** Socket path, e.g. /run/perseus/agent.sock (its directory is mounted into training pods). */
  readonly path: string;
  /** Concurrent connections (default 256). */
  readonly maxConnections?: number;
  /** A connection that has not bound a rank by then is closed (default 10 s). */
  readonly helloDeadlineMs?: number;
  /** Replies are dropped while this many bytes wait to be written to a slow reader (default 64 KiB). */
  readonly maxPendingReplyBytes?: number;
}

const NEWLINE = 0x0a;

/** Splits a byte stream into lines of at most `maxBytes`; longer lines are discarded and reported. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.append(chunk.subarray(start));
        return;
      }
      const piece = chunk.subarray(start, nl);
      if (this.discarding) {
        this.discarding = false;
        this.parts = [];
        this.pendingBytes = 0;
      } else if (this.pendingBytes + piece.length > this.maxBytes) {
        this.onTooLong(this.pendingBytes + piece.length);
        this.parts = [];
        this.pendingBytes = 0;
      } else {
        const line = this.parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8');
        this.parts = [];
        this.pendingBytes = 0;
        if (line.length > 0 && line !== '\r') this.onLine(line);
      }
      start = nl + 1;
    }
  }

  private append(piece: Buffer): void {
    if (this.discarding || piece.length === 0) return;
    if (this.pendingBytes + piece.length > this.maxBytes) {
      this.onTooLong(this.pendingBytes + piece.length);
      this.parts = [];
      this.pendingBytes = 0;
      this.discarding = true;
      return;
    }
    this.parts.push(Buffer.from(piece));
    this.pendingBytes += piece.length;
  }
}

/** Serves the agent's training API on a Unix socket. */
export class AgentSocketServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly agent: NodeAgent,
    private readonly options: SocketServerOptions,
  ) {
    this.server = createServer({ allowHalfOpen: false }, (socket) => this.accept(socket));
    this.server.maxConnections = options.maxConnections ?? 256;
  }

  /** Removes a stale socket file (from a previous agent) and listens; the socket is world-connectable, the token authenticates. */
  async listen(): Promise<void> {
    const path = this.options.path;
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error): void => reject(new Error(`cannot serve the training API on ${path}: ${err.message}`, { cause: err }));
      this.server.once('error', failed);
      this.server.listen(path, () => {
        this.server.off('error', failed);
        resolve();
      });
    });
    chmodSync(path, 0o666);
  }

  /** Number of open connections. */
  get connections(): number {
    return this.sockets.size;
  }

  /** Stops accepting, closes every connection, removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    const maxPending = this.options.maxPendingReplyBytes ?? 65_536;
    const send = (reply: ServerReply): void => {
      if (socket.destroyed || socket.writableLength > maxPending) return;
      socket.write(`${JSON.stringify(reply)}\n`);
    };
    const session: AgentSession = this.agent.openSession(send, () => socket.end());
    const deadline = this.agent.clock.setTimer(() => {
      if (session.boundRank === undefined) socket.destroy();
    }, this.options.helloDeadlineMs ?? 10_000);
    const splitter = new LineSplitter(
      MAX_LINE_BYTES,
      (line) => session.handleLine(line),
      (bytes) => session.lineTooLong(bytes),
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.agent.clock.clearTimer(deadline);
      this.sockets.delete(socket);
      session.close();
    });
  }
}
