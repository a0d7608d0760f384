// core/v1 Events and events.k8s.io/v1 Events share storage (as in the real server): each is converted to
// the other field by field.
import { isObject, type KubeObject } from './json.ts';

/** [core/v1 field, events.k8s.io/v1 field]. */
const EVENT_FIELDS: ReadonlyArray<readonly [core: string, v1: string]> = [
  ['involvedObject', 'regarding'],
  ['message', 'note'],
  ['reason', 'reason'],
  ['type', 'type'],
  ['eventTime', 'eventTime'],
  ['action', 'action'],
  ['related', 'related'],
  ['reportingComponent', 'reportingController'],
  ['reportingInstance', 'reportingInstance'],
  ['source', 'deprecatedSource'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'],
  ['lastTimestamp', 'deprecatedLastTimestamp'],
  ['count', 'deprecatedCount'],
];

function copyFields(from: KubeObject, to: KubeObject, direction: 'toV1' | 'toCore'): void {
  for (const [core, v1] of EVENT_FIELDS) {
    const [src, dst] = direction === 'toV1' ? [core, v1] : [v1, core];
    if (from[src] !== undefined) to[dst] = from[src];
  }
}

/** Converts a stored core/v1 Event to events.k8s.io/v1. */
export function coreEventToEventsV1(obj: KubeObject): KubeObject {
  const out: KubeObject = { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: obj.metadata };
  copyFields(obj, out, 'toV1');
  if (isObject(obj['series'])) out['series'] = { count: obj['series']['count'] ?? 0, lastObservedTime: obj['series']['lastObservedTime'] ?? null };
  if (out['eventTime'] === undefined) out['eventTime'] = null;
  return out;
}

/** Converts an events.k8s.io/v1 Event to the stored core/v1 form. */
export function eventsV1ToCoreEvent(obj: KubeObject): KubeObject {
  const out: KubeObject = { apiVersion: 'v1', kind: 'Event', metadata: obj.metadata };
  copyFields(obj, out, 'toCore');
  if (isObject(obj['series'])) out['series'] = obj['series'];
  if (out['involvedObject'] === undefined) out['involvedObject'] = {};
  return out;
}
