// Defaulting and basic validation of built-in types, as the real type registries do on create/update.
import { fieldErrors, type FieldError } from './errors.ts';
import { isObject, type Json, type JsonObject, type KubeObject } from './json.ts';

function defaultPodSpec(spec: JsonObject): void {
  spec['restartPolicy'] ??= 'Always';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['securityContext'] ??= {};
  spec['schedulerName'] ??= 'default-scheduler';
  spec['enableServiceLinks'] ??= true;
  spec['preemptionPolicy'] ??= 'PreemptLowerPriority';
  spec['priority'] ??= 0;
  for (const field of ['containers', 'initContainers']) {
    const containers = spec[field];
    if (!Array.isArray(containers)) continue;
    spec[field] = containers.map((c) => {
      if (!isObject(c)) return c;
      const out: JsonObject = { ...c };
      const image = typeof out['image'] === 'string' ? out['image'] : '';
      out['imagePullPolicy'] ??= image.endsWith(':latest') || !/:[^/]+$/.test(image) ? 'Always' : 'IfNotPresent';
      out['terminationMessagePath'] ??= '/dev/termination-log';
      out['terminationMessagePolicy'] ??= 'File';
      out['resources'] ??= {};
      if (Array.isArray(out['ports'])) out['ports'] = out['ports'].map((p) => (isObject(p) ? { ...p, protocol: p['protocol'] ?? 'TCP' } : p));
      return out;
    });
  }
}

function qosClass(spec: JsonObject): string {
  const containers = Array.isArray(spec['containers']) ? spec['containers'] : [];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    if (!isObject(c) || !isObject(c['resources'])) {
      guaranteed = false;
      continue;
    }
    const requests = isObject(c['resources']['requests']) ? c['resources']['requests'] : {};
    const limits = isObject(c['resources']['limits']) ? c['resources']['limits'] : {};
    if (Object.keys(requests).length > 0 || Object.keys(limits).length > 0) any = true;
    for (const r of ['cpu', 'memory']) {
      if (limits[r] === undefined || (requests[r] !== undefined && requests[r] !== limits[r])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

let serviceIpCounter = 10;

/** Fills the defaults the real API server sets on create. */
export function defaultBuiltin(kind: string, obj: KubeObject, isCreate: boolean): void {
  const spec = isObject(obj['spec']) ? (obj['spec'] as JsonObject) : undefined;
  switch (kind) {
    case 'Pod':
      if (spec !== undefined) {
        defaultPodSpec(spec);
        if (isCreate) {
          spec['serviceAccountName'] ??= 'default';
          spec['serviceAccount'] ??= spec['serviceAccountName'];
          obj['status'] = { phase: 'Pending', qosClass: qosClass(spec) };
        }
      }
      break;
    case 'Deployment':
      if (spec !== undefined) {
        spec['replicas'] ??= 1;
        spec['strategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
        spec['revisionHistoryLimit'] ??= 10;
        spec['progressDeadlineSeconds'] ??= 600;
        const template = spec['template'];
        if (isObject(template) && isObject(template['spec'])) defaultPodSpec(template['spec']);
      }
      if (isCreate) obj['status'] = {};
      break;
    case 'DaemonSet':
      if (spec !== undefined) {
        spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
        spec['revisionHistoryLimit'] ??= 10;
        const template = spec['template'];
        if (isObject(template) && isObject(template['spec'])) defaultPodSpec(template['spec']);
      }
      if (isCreate) obj['status'] = { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };
      break;
    case 'Service':
      if (spec !== undefined) {
        spec['type'] ??= 'ClusterIP';
        spec['sessionAffinity'] ??= 'None';
        spec['internalTrafficPolicy'] ??= 'Cluster';
        spec['ipFamilies'] ??= ['IPv4'];
        spec['ipFamilyPolicy'] ??= 'SingleStack';
        if (isCreate && spec['clusterIP'] === undefined) {
          const n = serviceIpCounter++;
          spec['clusterIP'] = `10.96.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
          spec['clusterIPs'] = [spec['clusterIP']];
        }
        if (Array.isArray(spec['ports'])) {
          spec['ports'] = spec['ports'].map((p) => (isObject(p) ? { ...p, protocol: p['protocol'] ?? 'TCP', targetPort: p['targetPort'] ?? p['port'] ?? null } : p));
        }
      }
      if (isCreate) obj['status'] = { loadBalancer: {} };
      break;
    case 'Namespace':
      obj['spec'] = { finalizers: ['kubernetes'], ...(spec ?? {}) };
      if (isCreate) obj['status'] = { phase: 'Active' };
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
      break;
    case 'Secret':
      obj['type'] ??= 'Opaque';
      if (isObject(obj['stringData'])) {
        const data: JsonObject = isObject(obj['data']) ? { ...obj['data'] } : {};
        for (const [k, v] of Object.entries(obj['stringData'])) data[k] = Buffer.from(String(v)).toString('base64');
        obj['data'] = data;
        delete obj['stringData'];
      }
      break;
    default:
      break;
  }
}

/** Validation the real type registries do for the fields this server's clients rely on. */
export function validateBuiltin(kind: string, obj: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const spec = obj['spec'] as Json | undefined;
  const checkContainers = (path: string, podSpec: Json | undefined): void => {
    const containers = isObject(podSpec) ? podSpec['containers'] : undefined;
    if (!Array.isArray(containers) || containers.length === 0) {
      errors.push(fieldErrors.required(`${path}.containers`, ''));
      return;
    }
    containers.forEach((c, i) => {
      if (!isObject(c) || typeof c['name'] !== 'string' || c['name'] === '') errors.push(fieldErrors.required(`${path}.containers[${i}].name`, ''));
      if (!isObject(c) || typeof c['image'] !== 'string' || c['image'] === '') errors.push(fieldErrors.required(`${path}.containers[${i}].image`, ''));
    });
  };
  switch (kind) {
    case 'Pod':
      checkContainers('spec', spec);
      break;
    case 'Deployment':
    case 'DaemonSet': {
      const selector = isObject(spec) ? spec['selector'] : undefined;
      if (!isObject(selector)) errors.push(fieldErrors.required('spec.selector', ''));
      const template = isObject(spec) ? spec['template'] : undefined;
      checkContainers('spec.template.spec', isObject(template) ? template['spec'] : undefined);
      const labels = isObject(template) && isObject(template['metadata']) && isObject(template['metadata']['labels']) ? template['metadata']['labels'] : {};
      const matchLabels = isObject(selector) && isObject(selector['matchLabels']) ? selector['matchLabels'] : {};
      if (isObject(selector) && Object.entries(matchLabels).some(([k, v]) => labels[k] !== v)) {
        errors.push(fieldErrors.invalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
      }
      break;
    }
    case 'ConfigMap': {
      for (const field of ['data', 'binaryData']) {
        const data = obj[field];
        if (data === undefined) continue;
        if (!isObject(data)) continue;
        for (const key of Object.keys(data)) {
          if (!/^[-._a-zA-Z0-9]+$/.test(key)) errors.push(fieldErrors.invalid(`${field}[${key}]`, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
        }
      }
      break;
    }
    case 'Lease': {
      if (isObject(spec) && spec['leaseDurationSeconds'] !== undefined && !(Number(spec['leaseDurationSeconds']) > 0)) {
        errors.push(fieldErrors.invalid('spec.leaseDurationSeconds', spec['leaseDurationSeconds'], 'must be greater than 0'));
      }
      break;
    }
    default:
      break;
  }
  return errors;
}
