// Equality of JSON values as a server returns them: kube-apiserver sends object keys sorted, so comparing
// serializations would take a status or a rank spec built in another key order for a change (and write it
// again on every reconcile).

/** Equal JSON values, whatever the order of object keys; a key set to undefined counts as absent. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  const defined = (o: object): string[] => Object.entries(o).filter(([, v]) => v !== undefined).map(([k]) => k);
  const keys = defined(a);
  return keys.length === defined(b).length && keys.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
