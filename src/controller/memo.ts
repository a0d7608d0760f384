// Bounded memoization of decide()'s pure, costly steps (validating a spec, parsing a profile, building a
// planner request, writing a frontier as CSV): every pass of a job recomputes them from the same inputs,
// and a status write replaces the cached job object without changing its spec. Results are shared between
// passes and must be treated as immutable, as everything decide() returns is.

/** A least-recently-used map of at most `limit` entries: `get(key, compute)` computes on a miss. */
export class Lru<K, V> {
  private readonly entries = new Map<K, V>();
  constructor(private readonly limit: number) {}

  get(key: K, compute: () => V): V {
    const found = this.entries.get(key);
    if (found !== undefined || this.entries.has(key)) {
      // Refresh: a Map iterates in insertion order, so the first entry is the least recently used.
      this.entries.delete(key);
      this.entries.set(key, found as V);
      return found as V;
    }
    const value = compute();
    this.entries.set(key, value);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as K);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** `compute(object)` once per object (by identity), for objects shared between passes. */
export function perObject<T extends object, V>(compute: (object: T) => V): (object: T) => V {
  const memo = new WeakMap<T, V>();
  return (object) => {
    if (memo.has(object)) return memo.get(object) as V;
    const value = compute(object);
    memo.set(object, value);
    return value;
  };
}
