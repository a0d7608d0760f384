// The pods the controller writes carry the user's template whole: fields the client library's models lack
// (a newer Kubernetes release's) are in the bodies it sends, and every v1.26 Pod field a template sets
// arrives in the created pods.
import assert from 'node:assert/strict';
import { ClientKubeApi, PODS, type KubeObject } from '../../src/kube/client.ts';
import { connectionOf } from '../support/library-kubeconfig.ts';
import { Harness, jobManifest, waitFor, waitForPhase } from './harness.ts';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.ts';
import { describeOnServers } from '../support/servers.ts';

type Json = Record<string, unknown>;

/** Whether `actual` holds every value of `expected` (extra fields, such as server defaults, allowed). */
function holds(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => holds(actual[i], e));
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return false;
    return Object.entries(expected).every(([k, v]) => holds((actual as Json)[k], v));
  }
  return actual === expected;
}

const container = {
  name: 'trainer',
  image: 'example/train:1',
  imagePullPolicy: 'IfNotPresent',
  command: ['python', '-m', 'train'],
  args: ['--stages', '3'],
  workingDir: '/workspace',
  ports: [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }],
  env: [{ name: 'TEAM', value: 'vision' }],
  envFrom: [{ configMapRef: { name: 'optional-settings', optional: true } }],
  resources: { requests: { cpu: '500m', memory: '64Mi' }, limits: { memory: '128Mi' } },
  livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, initialDelaySeconds: 5, periodSeconds: 11 },
  readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 7, failureThreshold: 4 },
  startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30, periodSeconds: 2 },
  lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 2'] } }, postStart: { exec: { command: ['true'] } } },
  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, runAsNonRoot: true },
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'FallbackToLogsOnError',
  volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
};

/** A template setting many fields of the v1.26 Pod schema (none needs another object to be accepted). */
const richSpec: Json = {
  restartPolicy: 'Never',
  terminationGracePeriodSeconds: 45,
  activeDeadlineSeconds: 86400,
  dnsPolicy: 'None',
  dnsConfig: { nameservers: ['10.0.0.10'], searches: ['ml.svc.cluster.local'], options: [{ name: 'ndots', value: '2' }] },
  hostAliases: [{ ip: '10.0.0.20', hostnames: ['datasets.local'] }],
  enableServiceLinks: false,
  automountServiceAccountToken: false,
  shareProcessNamespace: true,
  os: { name: 'linux' },
  securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000, runAsNonRoot: true, supplementalGroups: [3000], seccompProfile: { type: 'RuntimeDefault' } },
  nodeSelector: { 'example.com/gpu': 'a100' },
  tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'example.com/gpu', operator: 'In', values: ['a100', 'h100'] }] }] },
    },
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { team: 'vision' } } } }],
    },
  },
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { team: 'vision' } } }],
  readinessGates: [{ conditionType: 'example.com/ready' }],
  initContainers: [{ name: 'fetch', image: 'example/fetch:1', command: ['fetch', '/scratch'], volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }], resources: { requests: { cpu: '100m' } } }],
  containers: [container],
  volumes: [
    { name: 'scratch', emptyDir: { sizeLimit: '1Gi' } },
    { name: 'settings', configMap: { name: 'optional-settings', optional: true, defaultMode: 0o444 } },
  ],
};

/** The fields of `template` (a pod spec) that `pod` lacks or holds with another value: `[]` when all arrived. */
function missingFields(template: Json, pod: Json): string[] {
  const missing: string[] = [];
  for (const [key, value] of Object.entries(template)) {
    if (key === 'containers' || key === 'volumes') continue;
    // kube-apiserver's DefaultTolerationSeconds admission appends the not-ready/unreachable tolerations.
    const found = key === 'tolerations' ? (value as Json[]).every((v) => ((pod[key] ?? []) as Json[]).some((g) => holds(g, v))) : holds(pod[key], value);
    if (!found) missing.push(`spec.${key}`);
  }
  const podContainers = (pod['containers'] ?? []) as Json[];
  for (const c of template['containers'] as Json[]) {
    const got = podContainers.find((p) => p['name'] === c['name']);
    for (const [key, value] of Object.entries(c)) {
      // The controller appends its environment and mounts to these lists (and its GPU limit to resources).
      const list = key === 'env' || key === 'volumeMounts';
      if (list ? !(value as Json[]).every((v) => ((got?.[key] ?? []) as Json[]).some((g) => holds(g, v))) : !holds(got?.[key], value)) {
        missing.push(`spec.containers[${String(c['name'])}].${key}`);
      }
    }
  }
  for (const v of template['volumes'] as Json[]) {
    if (!((pod['volumes'] ?? []) as Json[]).some((p) => holds(p, v))) missing.push(`spec.volumes[${String(v['name'])}]`);
  }
  return missing;
}

describeOnServers('controller: faithful pods', function (kind) {
  this.timeout(120_000);
  let h: Harness;
  let proxy: RecordingProxy;
  beforeEach(async () => {
    h = await Harness.start('ml', kind);
    proxy = await startRecordingProxy(h.server.url);
  });
  afterEach(async () => {
    await proxy.close();
    await h.stop();
  });

  it('sends the template fields the client library does not know in the pods it applies', async () => {
    const api = new ClientKubeApi(connectionOf(proxy.kubeConfigFor(h.operatorKc)));
    await h.startOperator('a', { api });
    const template = {
      metadata: { labels: { team: 'vision' }, annotations: { 'example.com/note': 'kept' } },
      spec: {
        restartPolicy: 'Never',
        futureField: { x: 1 },
        containers: [{ name: 'trainer', image: 'example/train:1', futureContainerField: { mode: 'fast' } }],
      },
    };
    await h.createJob(jobManifest('gpt', { template }));
    const pods = `/api/v1/namespaces/${h.ns}/pods`;
    const sent = await waitFor('the first write of pod gpt-profile-s0', async () =>
      proxy.writes.find((w) => w.path === `${pods}/gpt-profile-s0` || (w.path === pods && (w.body as { metadata?: Json } | undefined)?.metadata?.['name'] === 'gpt-profile-s0')),
    );
    const body = sent.body as { apiVersion: string; kind: string; metadata: Json; spec: Json & { containers: Json[] } };
    assert.equal(body.apiVersion, 'v1');
    assert.equal(body.kind, 'Pod');
    assert.deepEqual(body.spec['futureField'], { x: 1 });
    assert.deepEqual(body.spec.containers[0]?.['futureContainerField'], { mode: 'fast' });
    assert.equal((body.metadata['labels'] as Json)['team'], 'vision');
    assert.equal((body.metadata['annotations'] as Json)['example.com/note'], 'kept');
    assert.equal(sent.method, 'PATCH');
    assert.equal(sent.contentType, 'application/apply-patch+yaml');
    assert.equal(sent.query.get('fieldManager'), 'perseus-operator');
    assert.equal(sent.query.get('force'), null, 'a pod is applied without force');
    // No write of the controller goes through another content type than JSON, merge patch or apply.
    const types = new Set(proxy.writes.map((w) => w.contentType.split(';')[0]));
    for (const t of types) assert.ok(['application/json', 'application/merge-patch+json', 'application/apply-patch+yaml'].includes(t ?? ''), `content type ${t}`);
  });

  it('creates pods holding every field a template sets of the v1.26 Pod schema', async () => {
    await h.startOperator('a');
    await h.createJob(jobManifest('gpt', { template: { metadata: { labels: { team: 'vision' } }, spec: richSpec } }));
    await waitForPhase(h, 'gpt', 'Profiling');
    const reader = new ClientKubeApi(connectionOf(h.kc));
    const pods = await waitFor('three profiling pods', async () => {
      const list = (await reader.list(PODS, h.ns)).items;
      return list.length === 3 ? list : undefined;
    });
    for (const pod of pods as KubeObject[]) {
      assert.deepEqual(missingFields(richSpec, pod['spec'] as Json), [], `pod ${pod.metadata.name}`);
      assert.equal(pod.metadata.labels?.['team'], 'vision');
      const entry = (pod.metadata['managedFields'] as { manager: string; operation: string }[]).find((e) => e.manager === 'perseus-operator');
      assert.equal(entry?.operation, 'Apply', 'the pod is written by server-side apply');
    }
    // The check itself can fail: a field the controller had dropped is reported.
    assert.deepEqual(missingFields({ ...richSpec, shareProcessNamespace: false }, (pods[0] as KubeObject)['spec'] as Json), ['spec.shareProcessNamespace']);
  });
});
