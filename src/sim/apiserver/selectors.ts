// Label and field selectors as the API server parses them (k8s.io/apimachinery labels and fields).
// Parsing errors become 400 BadRequest with the server's wording.
import { badRequest } from './errors.ts';

type Requirement =
  | { op: 'in'; key: string; values: string[] }
  | { op: 'notin'; key: string; values: string[] }
  | { op: 'exists'; key: string }
  | { op: '!'; key: string };

/** A parsed label selector: all requirements must hold. */
export interface LabelSelector {
  readonly requirements: readonly Requirement[];
  matches(labels: Record<string, string> | undefined): boolean;
  readonly empty: boolean;
}

const keyPattern = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function checkKey(key: string, raw: string): void {
  if (!keyPattern.test(key)) throw badRequest(`unable to parse requirement: found '${raw}', expected: valid label key`);
}

function checkValue(value: string): void {
  if (value.length > 63 || !valuePattern.test(value)) {
    throw badRequest(`unable to parse requirement: values[0]: Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`);
  }
}

/** Parses `labelSelector` (`a=b,c!=d,e in (f,g),h notin (i),j,!k`). */
export function parseLabelSelector(text: string | undefined | null): LabelSelector {
  const requirements: Requirement[] = [];
  for (const part of splitTopLevel(text ?? '')) {
    let m: RegExpExecArray | null;
    if ((m = /^!\s*(\S+)$/.exec(part)) !== null) {
      checkKey(m[1] ?? '', part);
      requirements.push({ op: '!', key: m[1] ?? '' });
    } else if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part)) !== null) {
      const key = m[1] ?? '';
      checkKey(key, part);
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      values.forEach(checkValue);
      requirements.push({ op: m[2] === 'in' ? 'in' : 'notin', key, values });
    } else if ((m = /^([^=!<>\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part)) !== null) {
      const key = m[1] ?? '';
      checkKey(key, part);
      const value = m[3] ?? '';
      checkValue(value);
      requirements.push({ op: m[2] === '!=' ? 'notin' : 'in', key, values: [value] });
    } else if (/^\S+$/.test(part)) {
      checkKey(part, part);
      requirements.push({ op: 'exists', key: part });
    } else {
      throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`);
    }
  }
  return {
    requirements,
    empty: requirements.length === 0,
    matches(labels) {
      const l = labels ?? {};
      return requirements.every((r) => {
        const has = Object.prototype.hasOwnProperty.call(l, r.key);
        switch (r.op) {
          case 'exists':
            return has;
          case '!':
            return !has;
          case 'in':
            return has && r.values.includes(l[r.key] ?? '');
          case 'notin':
            return !has || !r.values.includes(l[r.key] ?? '');
        }
        return false;
      });
    },
  };
}

/** A parsed field selector: `field=value`, `field==value`, `field!=value`, comma-separated. */
export interface FieldSelector {
  readonly terms: readonly { field: string; value: string; negate: boolean }[];
  matches(fields: Record<string, string>): boolean;
  readonly empty: boolean;
  /** The value an `=` term requires for `field`, if any (used to narrow lookups). */
  equals(field: string): string | undefined;
}

/** Parses `fieldSelector`; `supported` lists the fields the resource allows (others are a 400). */
export function parseFieldSelector(text: string | undefined | null, supported: ReadonlySet<string>, kindDescription: string): FieldSelector {
  const terms: { field: string; value: string; negate: boolean }[] = [];
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (m === null) throw badRequest(`invalid selector: '${text ?? ''}'; can't understand '${part}'`);
    const field = m[1] ?? '';
    if (!supported.has(field)) {
      // Kinds with their own field labels (pods, nodes, events, …) answer like kube-apiserver's conversion
      // functions; the others like its generic registry.
      const generic = [...supported].every((f) => f === 'metadata.name' || f === 'metadata.namespace');
      throw badRequest(generic ? `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"` : `field label not supported: ${field}`);
    }
    terms.push({ field, value: (m[3] ?? '').replace(/\\(.)/g, '$1'), negate: m[2] === '!=' });
  }
  void kindDescription;
  return {
    terms,
    empty: terms.length === 0,
    matches(fields) {
      return terms.every((t) => ((fields[t.field] ?? '') === t.value) !== t.negate);
    },
    equals(field) {
      return terms.find((t) => t.field === field && !t.negate)?.value;
    },
  };
}
