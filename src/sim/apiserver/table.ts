// Server-side printing: the Table kubectl asks for (as=Table), filled from each resource's printer columns.
import type { KubeObject } from './json.ts';
import type { ResourceType } from './resources.ts';

/** A meta.k8s.io/v1 Table of `items` with the resource's printer columns; `url` carries includeObject. */
export function tableOf(r: ResourceType, items: KubeObject[], resourceVersion: string, url: string, continueToken?: string, includeDefinitions = true): unknown {
  const now = Date.now();
  const includeObject = new URL(url, 'http://x').searchParams.get('includeObject') ?? 'Metadata';
  const columns = r.printerColumns;
  const metadata: Record<string, unknown> = { resourceVersion };
  if (continueToken !== undefined) metadata['continue'] = continueToken;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: includeDefinitions ? columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description, priority: c.priority })) : [],
    rows: items.map((obj) => ({
      cells: columns.map((c) => c.cell(obj, now)),
      object: includeObject === 'None' ? null : includeObject === 'Object' ? obj : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata },
    })),
  };
}
