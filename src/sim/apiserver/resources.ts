// The resource registry: built-in types and the types that CustomResourceDefinitions add at runtime.
// Discovery, routing, field selectors, table printing and merge semantics all read from here.
import { builtinResources } from './builtin-resources.ts';
import { isObject, type Json, type JsonObject, type KubeObject } from './json.ts';
import { ageColumn, allVerbs, fieldGetters, humanAge, nameColumn, readPath } from './resource-fields.ts';
import type { Schema } from './schema.ts';

/** A table column as the server prints it (metav1.TableColumnDefinition plus how to fill it). */
export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell(obj: KubeObject, now: number): Json;
}

/** One served resource at one group/version. */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Identity shared by every version of one resource (objects are stored once). */
  storage: string;
  /** Whether this version is the storage version (the one stored and converted from). */
  storageVersion: boolean;
  hasStatus: boolean;
  /** `spec.replicas` style scale subresource paths, when served. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  hasBinding: boolean;
  /** Whether metadata.generation counts spec changes. */
  tracksGeneration: boolean;
  /** Custom resources reject strategic merge patch (415). */
  builtin: boolean;
  /** The structural schema (custom resources) or a minimal one (built-ins, for OpenAPI). */
  schema?: Schema;
  /** Fields usable in fieldSelector, and how to read them. */
  fieldSelectors: Map<string, (obj: KubeObject) => string>;
  printerColumns: PrinterColumn[];
  /** Name of the CRD that defines it. */
  crdName?: string;
  verbs: string[];
}

/** The types a CRD serves: one ResourceType per served version. */
export function crdResources(crd: KubeObject): ResourceType[] {
  const spec = crd['spec'] as JsonObject;
  const names = spec['names'] as JsonObject;
  const group = spec['group'] as string;
  const plural = names['plural'] as string;
  const kind = names['kind'] as string;
  const versions = (spec['versions'] as JsonObject[]) ?? [];
  const out: ResourceType[] = [];
  for (const v of versions) {
    if (v['served'] === false) continue;
    const subresources = isObject(v['subresources']) ? v['subresources'] : {};
    const schema = isObject(v['schema']) && isObject(v['schema']['openAPIV3Schema']) ? (v['schema']['openAPIV3Schema'] as unknown as Schema) : undefined;
    const columnsSpec = Array.isArray(v['additionalPrinterColumns']) ? (v['additionalPrinterColumns'] as JsonObject[]) : [];
    const columns: PrinterColumn[] = columnsSpec.map((c) => {
      const path = String(c['jsonPath'] ?? '');
      const type = String(c['type'] ?? 'string');
      const column: PrinterColumn = {
        name: String(c['name'] ?? ''),
        type,
        description: String(c['description'] ?? ''),
        priority: Number(c['priority'] ?? 0),
        cell: (o, now) => {
          const value = readPath(o, path.replace(/^\./, ''));
          if (value === undefined || value === null) return null;
          if (type === 'date') return typeof value === 'string' ? humanAge(value, now) : null;
          return value;
        },
      };
      if (typeof c['format'] === 'string') column.format = c['format'];
      return column;
    });
    const selectable = Array.isArray(v['selectableFields']) ? (v['selectableFields'] as JsonObject[]).map((f) => String(f['jsonPath'] ?? '').replace(/^\./, '')) : [];
    const resource: ResourceType = {
      group,
      version: v['name'] as string,
      kind,
      listKind: (names['listKind'] as string | undefined) ?? `${kind}List`,
      plural,
      singular: (names['singular'] as string | undefined) ?? kind.toLowerCase(),
      namespaced: spec['scope'] === 'Namespaced',
      shortNames: Array.isArray(names['shortNames']) ? (names['shortNames'] as string[]) : [],
      categories: Array.isArray(names['categories']) ? (names['categories'] as string[]) : [],
      storage: `${group}/${plural}`,
      storageVersion: v['storage'] === true,
      hasStatus: isObject(subresources['status']),
      hasBinding: false,
      tracksGeneration: true,
      builtin: false,
      fieldSelectors: fieldGetters(selectable),
      printerColumns: columns.length > 0 || columnsSpec.length > 0 ? [nameColumn, ...columns, ...(columns.some((c) => c.name === 'Age') ? [] : [ageColumn])] : [nameColumn, ageColumn],
      crdName: crd.metadata.name ?? '',
      verbs: allVerbs,
    };
    if (schema !== undefined) resource.schema = schema;
    if (isObject(subresources['scale'])) {
      const s = subresources['scale'];
      resource.scale = { specReplicasPath: String(s['specReplicasPath'] ?? ''), statusReplicasPath: String(s['statusReplicasPath'] ?? '') };
      if (typeof s['labelSelectorPath'] === 'string') resource.scale.labelSelectorPath = s['labelSelectorPath'];
    }
    out.push(resource);
  }
  return out;
}

/** The registry: lookup by group/version/plural, by kind, by storage. */
export class Registry {
  private readonly byPath = new Map<string, ResourceType>();
  private readonly crdTypes = new Map<string, ResourceType[]>();

  constructor() {
    for (const r of builtinResources()) this.add(r);
  }

  private add(r: ResourceType): void {
    this.byPath.set(`${r.group}/${r.version}/${r.plural}`, r);
  }

  /** The resource served at `group/version/plural`, if any. */
  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byPath.get(`${group}/${version}/${plural}`);
  }

  /** The storage-version type of a storage key (for GC and namespace cleanup). */
  storageType(storage: string): ResourceType | undefined {
    for (const r of this.byPath.values()) if (r.storage === storage && r.storageVersion) return r;
    return undefined;
  }

  /** The type of an apiVersion/kind pair (for ownerReferences and apply). */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    for (const r of this.byPath.values()) if (r.group === group && r.version === version && r.kind === kind) return r;
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.byPath.values()];
  }

  /** Group → versions (preferred first), for discovery. */
  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const r of this.byPath.values()) {
      const versions = groups.get(r.group) ?? [];
      if (!versions.includes(r.version)) versions.push(r.version);
      groups.set(r.group, versions);
    }
    for (const versions of groups.values()) versions.sort(compareVersions);
    return groups;
  }

  /** Replaces the types served for a CRD (on create/update), or removes them (`crd` undefined). */
  setCrd(name: string, crd: KubeObject | undefined): void {
    for (const r of this.crdTypes.get(name) ?? []) this.byPath.delete(`${r.group}/${r.version}/${r.plural}`);
    this.crdTypes.delete(name);
    if (crd === undefined) return;
    const types = crdResources(crd);
    this.crdTypes.set(name, types);
    for (const r of types) this.add(r);
  }
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (v1 > v1beta2 > v1alpha1). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (m === null) return [-1, 0, 0];
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [sa, ma, na] = parse(a);
  const [sb, mb, nb] = parse(b);
  if (sa !== sb) return sb - sa;
  if (ma !== mb) return mb - ma;
  if (na !== nb) return nb - na;
  return a.localeCompare(b);
}
