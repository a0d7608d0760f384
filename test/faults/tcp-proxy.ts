// A TCP proxy in front of kube-apiserver (TLS passes through untouched): every client of a trial connects
// through it, so the suite can cut its watches (reset every connection), stall them (stop forwarding) or
// slow every response down, as a flaky load balancer or network would.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = { readonly kind: 'pass' } | { readonly kind: 'stall' } | { readonly kind: 'slow'; readonly delayMs: number };

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Chunks held back while stalled, by direction. */
  readonly held: Array<{ readonly from: Socket; readonly to: Socket; readonly chunk: Buffer }>;
}

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private mode: ProxyMode = { kind: 'pass' };
  /** Connections reset by `resetAll`. */
  resets = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = this.server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('the proxy has no port');
    return addr.port;
  }

  /** Resets every open connection (the clients see ECONNRESET; their watches end). */
  resetAll(): void {
    for (const p of [...this.pairs]) {
      this.resets++;
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Stalls every connection (no byte forwarded either way) or slows every chunk down, until `pass`. */
  setMode(mode: ProxyMode): void {
    const wasStalled = this.mode.kind === 'stall';
    this.mode = mode;
    if (wasStalled && mode.kind !== 'stall') {
      for (const p of this.pairs) {
        for (const h of p.held.splice(0)) if (!h.to.destroyed) h.to.write(h.chunk);
        p.client.resume();
        p.upstream.resume();
      }
    }
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = createConnection(this.targetPort, this.targetHost);
    const pair: Pair = { client, upstream, held: [] };
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    this.forward(pair, client, upstream);
    this.forward(pair, upstream, client);
  }

  private forward(pair: Pair, from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === 'stall') {
        // Keep the chunk, stop reading: the peer sees a connection that went silent.
        from.pause();
        pair.held.push({ from, to, chunk });
        return;
      }
      if (mode.kind === 'slow') {
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        }, mode.delayMs);
        return;
      }
      to.write(chunk);
    });
  }
}
