// What resource types share: reading fields for field selectors, and the table columns kubectl prints
// (name, age and columns filled from the object).
import { isObject, type Json, type KubeObject } from './json.ts';
import type { PrinterColumn } from './resources.ts';

export const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Reads a dotted path (`spec.nodeName`) as a string, '' when absent. */
export function readPath(obj: unknown, path: string): Json | undefined {
  let cur: unknown = obj;
  for (const part of path.split('.').filter((p) => p !== '')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur as Json | undefined;
}

export function asString(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export function fieldGetters(paths: readonly string[], extra: Record<string, (obj: KubeObject) => string> = {}): Map<string, (obj: KubeObject) => string> {
  const map = new Map<string, (obj: KubeObject) => string>();
  map.set('metadata.name', (o) => o.metadata.name ?? '');
  map.set('metadata.namespace', (o) => o.metadata.namespace ?? '');
  for (const path of paths) map.set(path, (o) => asString(readPath(o, path)));
  for (const [k, f] of Object.entries(extra)) map.set(k, f);
  return map;
}

/** kubectl's short age: 5s, 3m, 2d... (duration.HumanDuration). */
export function humanAge(fromIso: string | undefined, now: number): string {
  if (fromIso === undefined) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 === 0 ? '' : `${seconds % 60}s`}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return `${hours}h${minutes % 60 === 0 ? '' : `${minutes % 60}m`}`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return `${days}d${hours % 24 === 0 ? '' : `${hours % 24}h`}`;
  if (days < 365 * 2) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

export const nameColumn: PrinterColumn = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0, cell: (o) => o.metadata.name ?? '' };
export const ageColumn: PrinterColumn = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0, cell: (o, now) => humanAge(o.metadata.creationTimestamp, now) };

export function col(name: string, description: string, cell: (o: KubeObject, now: number) => Json, type = 'string', priority = 0): PrinterColumn {
  return { name, type, description, priority, cell };
}
