// Dinic's maximum flow on a float-capacity network in flat arrays, reused across solver iterations so
// that the hot loop allocates nothing. Edges are stored in pairs: edge e and its reverse e ^ 1.

export class FlowNetwork {
  nodeCount = 0;
  edgeCount = 0;
  head: Int32Array;
  next: Int32Array;
  to: Int32Array;
  cap: Float64Array;
  private level: Int32Array;
  private iter: Int32Array;
  private queue: Int32Array;
  private stackNode: Int32Array;
  private stackEdge: Int32Array;

  constructor(maxNodes: number, maxEdges: number) {
    this.head = new Int32Array(maxNodes).fill(-1);
    this.next = new Int32Array(maxEdges * 2);
    this.to = new Int32Array(maxEdges * 2);
    this.cap = new Float64Array(maxEdges * 2);
    this.level = new Int32Array(maxNodes);
    this.iter = new Int32Array(maxNodes);
    this.queue = new Int32Array(maxNodes);
    this.stackNode = new Int32Array(maxNodes);
    this.stackEdge = new Int32Array(maxNodes);
  }

  /** Clears the network to `nodeCount` isolated nodes. */
  reset(nodeCount: number): void {
    if (nodeCount > this.head.length) this.growNodes(nodeCount);
    this.nodeCount = nodeCount;
    this.edgeCount = 0;
    this.head.fill(-1, 0, nodeCount);
  }

  /** Adds u → v with capacity `capacity` (and its zero-capacity reverse); returns the forward edge id. */
  addEdge(u: number, v: number, capacity: number): number {
    if (this.edgeCount + 2 > this.to.length) this.growEdges();
    const e = this.edgeCount;
    this.to[e] = v;
    this.cap[e] = capacity;
    this.next[e] = this.head[u]!;
    this.head[u] = e;
    this.to[e + 1] = u;
    this.cap[e + 1] = 0;
    this.next[e + 1] = this.head[v]!;
    this.head[v] = e + 1;
    this.edgeCount += 2;
    return e;
  }

  /** Pushes as much flow as possible from s to t through edges with residual > eps; returns the amount. */
  maxFlow(s: number, t: number, eps: number): number {
    let total = 0;
    // bfs() also resets the current-arc pointer of every node it labels: the only nodes augment() visits.
    while (this.bfs(s, t, eps)) {
      for (;;) {
        const f = this.augment(s, t, eps);
        if (f <= 0) break;
        total += f;
      }
    }
    return total;
  }

  /** Marks (1) the nodes reachable from s through edges with residual > eps. */
  reachable(s: number, eps: number, out: Uint8Array): void {
    out.fill(0, 0, this.nodeCount);
    let qh = 0;
    let qt = 0;
    this.queue[qt++] = s;
    out[s] = 1;
    while (qh < qt) {
      const u = this.queue[qh++]!;
      for (let e = this.head[u]!; e !== -1; e = this.next[e]!) {
        const v = this.to[e]!;
        if (out[v] === 0 && this.cap[e]! > eps) {
          out[v] = 1;
          this.queue[qt++] = v;
        }
      }
    }
  }

  private bfs(s: number, t: number, eps: number): boolean {
    this.level.fill(-1, 0, this.nodeCount);
    let qh = 0;
    let qt = 0;
    this.queue[qt++] = s;
    this.level[s] = 0;
    this.iter[s] = this.head[s]!;
    while (qh < qt) {
      const u = this.queue[qh++]!;
      for (let e = this.head[u]!; e !== -1; e = this.next[e]!) {
        const v = this.to[e]!;
        if (this.level[v] === -1 && this.cap[e]! > eps) {
          this.level[v] = this.level[u]! + 1;
          this.iter[v] = this.head[v]!;
          // Every node of a lower level is already labelled, which is all the blocking flow needs.
          if (v === t) return true;
          this.queue[qt++] = v;
        }
      }
    }
    return false;
  }

  /** One blocking-flow path search (iterative DFS with current-arc pointers). */
  private augment(s: number, t: number, eps: number): number {
    let depth = 0;
    this.stackNode[0] = s;
    for (;;) {
      const u = this.stackNode[depth]!;
      if (u === t) {
        let f = Infinity;
        for (let i = 0; i < depth; i++) f = Math.min(f, this.cap[this.stackEdge[i]!]!);
        for (let i = 0; i < depth; i++) {
          const e = this.stackEdge[i]!;
          this.cap[e]! -= f;
          this.cap[e ^ 1]! += f;
        }
        return f;
      }
      let e = this.iter[u]!;
      while (e !== -1) {
        const v = this.to[e]!;
        if (this.cap[e]! > eps && this.level[v] === this.level[u]! + 1) break;
        e = this.next[e]!;
      }
      this.iter[u] = e;
      if (e === -1) {
        if (depth === 0) return 0;
        this.level[u] = -1; // dead end: prune
        depth--;
        const pe = this.stackEdge[depth]!;
        this.iter[this.stackNode[depth]!] = this.next[pe]!;
        continue;
      }
      this.stackEdge[depth] = e;
      this.stackNode[++depth] = this.to[e]!;
    }
  }

  private growNodes(n: number): void {
    const grow = <T extends Int32Array>(a: T): T => {
      const b = new Int32Array(n) as T;
      b.set(a);
      return b;
    };
    this.head = grow(this.head);
    this.level = grow(this.level);
    this.iter = grow(this.iter);
    this.queue = grow(this.queue);
    this.stackNode = grow(this.stackNode);
    this.stackEdge = grow(this.stackEdge);
  }

  private growEdges(): void {
    const size = this.to.length * 2 + 16;
    const n = new Int32Array(size);
    n.set(this.next);
    this.next = n;
    const t = new Int32Array(size);
    t.set(this.to);
    this.to = t;
    const c = new Float64Array(size);
    c.set(this.cap);
    this.cap = c;
  }
}
