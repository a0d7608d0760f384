// The Helm chart rendered by the real helm binary: lint, every toggle on and off, RBAC allow-lists,
// security contexts, selectors, and the CRDs it ships.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_SOCKET_HOST_DIR as AGENT_SOCKET_DIR } from '../../src/api/names.ts';
import { crdCopies, ROOT } from '../../scripts/gen-manifests.ts';
import { ALL_OFF, ALL_ON, CHART, get, helm, MONITORING_API, ofKind, one, render, sets, type K8sObject } from './helm.ts';

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name: string; containerPort: number }[];
  securityContext: Record<string, unknown> & { capabilities?: { add?: string[]; drop?: string[] } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
  livenessProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string; type?: string }; emptyDir?: unknown }[];
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  affinity?: unknown;
  priorityClassName?: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}

const podSpec = (o: K8sObject): PodSpec => get<PodSpec>(o, 'spec', 'template', 'spec');
const container = (o: K8sObject): Container => {
  const cs = podSpec(o).containers;
  assert.equal(cs.length, 1, `${o.kind} ${o.metadata.name} has one container`);
  return cs[0] as Container;
};
const kinds = (objects: readonly K8sObject[]): string[] => [...new Set(objects.map((o) => o.kind))].sort();

const CONTROLLER = 'perseus-operator-controller';
const AGENT = 'perseus-operator-agent';

describe('Helm chart', function () {
  this.timeout(60_000);

  describe('helm lint --strict', function () {
    for (const [label, args] of [
      ['default values', []],
      ['every toggle on', ALL_ON],
      ['every toggle off', ALL_OFF],
      ['watched namespaces', sets('controller.watchNamespaces={team-a,team-b}')],
    ] as const) {
      it(`passes with ${label}`, async function () {
        const { stdout } = await helm(['lint', '--strict', CHART, ...args]);
        assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });
    }
  });

  describe('renders', function () {
    it('the default objects, without Prometheus operator objects when its API is absent', async function () {
      const objects = await render();
      assert.deepEqual(kinds(objects), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Deployment', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
      assert.equal(ofKind(objects, 'Service').length, 2);
      assert.equal(ofKind(objects, 'ServiceAccount').length, 2);
      for (const o of objects) assert.ok(o.metadata.labels?.['app.kubernetes.io/part-of'] === 'perseus', `${o.kind} ${o.metadata.name} carries the part-of label`);
      for (const o of objects.filter((x) => !x.kind.startsWith('Cluster'))) assert.equal(o.metadata.namespace, 'perseus-system', `${o.kind} ${o.metadata.name} namespace`);
    });

    it('ServiceMonitor, PodMonitor and PrometheusRule when monitoring.coreos.com/v1 is served', async function () {
      const objects = await render(MONITORING_API);
      const sm = one(objects, 'ServiceMonitor');
      const pm = one(objects, 'PodMonitor');
      one(objects, 'PrometheusRule');
      assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
      // The monitors name the scrape jobs the alert rules use, whatever the release is called.
      const jobOf = (endpoints: unknown): unknown => get<{ targetLabel?: string; replacement?: string }[]>(endpoints, 0, 'relabelings').find((r) => r.targetLabel === 'job')?.replacement;
      assert.equal(jobOf(get(sm, 'spec', 'endpoints')), 'perseus-controller');
      assert.equal(jobOf(get(pm, 'spec', 'podMetricsEndpoints')), 'perseus-agent');
    });

    const toggles: { set: string[]; absent: string[]; present: string[]; api?: boolean }[] = [
      { set: sets('agent.enabled=false'), absent: ['DaemonSet', 'PodMonitor'], present: ['Deployment', 'ServiceMonitor'], api: true },
      { set: sets('metrics.serviceMonitor.enabled=false'), absent: ['ServiceMonitor'], present: ['PodMonitor', 'PrometheusRule'], api: true },
      { set: sets('metrics.podMonitor.enabled=false'), absent: ['PodMonitor'], present: ['ServiceMonitor', 'PrometheusRule'], api: true },
      { set: sets('metrics.prometheusRule.enabled=false'), absent: ['PrometheusRule'], present: ['ServiceMonitor', 'PodMonitor'], api: true },
      { set: sets('grafana.dashboard.enabled=false'), absent: ['ConfigMap'], present: ['Deployment'] },
      { set: sets('networkPolicy.enabled=true'), absent: [], present: ['NetworkPolicy'] },
      { set: sets('controller.serviceAccount.create=false', 'agent.serviceAccount.create=false'), absent: ['ServiceAccount'], present: ['Deployment'] },
    ];
    for (const t of toggles) {
      it(`${t.set.filter((s) => s !== '--set').join(' ')}${t.api === true ? ' (Prometheus operator present)' : ''}`, async function () {
        const objects = await render([...t.set, ...(t.api === true ? MONITORING_API : [])]);
        const found = kinds(objects);
        for (const k of t.absent) assert.ok(!found.includes(k), `no ${k}`);
        for (const k of t.present) assert.ok(found.includes(k), `a ${k}`);
      });
    }

    it('every toggle off: only the controller, its ClusterRole and its Service', async function () {
      const objects = await render([...ALL_OFF, ...MONITORING_API]);
      assert.deepEqual(kinds(objects), ['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Service']);
      assert.equal(podSpec(one(objects, 'Deployment')).serviceAccountName, 'default');
      const d = one(objects, 'Deployment');
      assert.deepEqual(get(d, 'spec', 'strategy'), { type: 'Recreate' });
      assert.ok(!container(d).args.includes('--leader-elect'));
    });

    it('every toggle on', async function () {
      const objects = await render([...ALL_ON, ...MONITORING_API]);
      assert.equal(ofKind(objects, 'NetworkPolicy').length, 2);
      const ds = one(objects, 'DaemonSet');
      assert.equal(container(ds).securityContext['privileged'], true);
      assert.equal(container(ds).securityContext.capabilities, undefined);
      assert.equal(get(ds, 'spec', 'template', 'spec', 'runtimeClassName'), 'nvidia');
      assert.ok(container(ds).args.includes('--nvml-library=/run/nvidia/driver/usr/lib64/libnvidia-ml.so.1'));
      assert.equal(get(one(objects, 'Deployment'), 'spec', 'replicas'), 2);
      const ports = ofKind(objects, 'NetworkPolicy').flatMap((np) => get<{ port: number }[]>(np, 'spec', 'ingress', 0, 'ports').map((p) => p.port)).sort();
      assert.deepEqual(ports, [8080, 8443, 9400, 9401]);
    });

    it('rejects values the schema forbids', async function () {
      for (const bad of [sets('controller.replicas=-1'), sets('agent.unknownKey=1'), sets('controller.logLevel=verbose'), sets('agent.socketHostDir=relative/dir'), sets('agent.nice=-21'), sets('agent.nice=20')]) {
        await assert.rejects(render(bad), /values don't meet the specifications|schema|minimum|maximum|additional properties|value must be one of|pattern/i, bad.join(' '));
      }
    });

    it('pins the image by digest when one is given', async function () {
      const digest = `sha256:${'a'.repeat(64)}`;
      const objects = await render(sets(`image.digest=${digest}`));
      for (const kind of ['Deployment', 'DaemonSet']) assert.equal(container(one(objects, kind)).image, `ghcr.io/perseus-energy/perseus-operator@${digest}`);
    });
  });

  describe('RBAC', function () {
    type Grant = string; // "<subject>|<namespace or *>|<apiGroup>|<resource>|<verb>", or "<subject>|*|url|<path>|<verb>"
    async function grants(extra: readonly string[] = []): Promise<Set<Grant>> {
      const objects = await render(extra);
      const roles = new Map<string, { rules: { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }[] }>();
      for (const r of [...ofKind(objects, 'ClusterRole'), ...ofKind(objects, 'Role')]) roles.set(`${r.kind}/${r.metadata.namespace ?? '*'}/${r.metadata.name}`, r as never);
      const out = new Set<Grant>();
      for (const b of [...ofKind(objects, 'ClusterRoleBinding'), ...ofKind(objects, 'RoleBinding')]) {
        const ref = get<{ kind: string; name: string }>(b, 'roleRef');
        const ns = ref.kind === 'Role' ? (b.metadata.namespace ?? '') : '*';
        const role = roles.get(`${ref.kind}/${ref.kind === 'Role' ? (b.metadata.namespace ?? '') : '*'}/${ref.name}`);
        assert.ok(role !== undefined, `binding ${b.metadata.name} refers to a rendered role`);
        for (const s of get<{ kind: string; name: string; namespace: string }[]>(b, 'subjects')) {
          assert.equal(s.kind, 'ServiceAccount');
          assert.equal(s.namespace, 'perseus-system');
          for (const rule of role.rules) {
            assert.equal(rule.resourceNames, undefined);
            for (const url of rule.nonResourceURLs ?? []) for (const v of rule.verbs) out.add(`${s.name}|*|url|${url}|${v}`);
            for (const g of rule.apiGroups ?? []) for (const res of rule.resources ?? []) for (const v of rule.verbs) out.add(`${s.name}|${ns}|${g}|${res}|${v}`);
          }
        }
      }
      return out;
    }
    const expand = (subject: string, ns: string, group: string, resources: string[], verbs: string[]): Grant[] => resources.flatMap((r) => verbs.map((v) => `${subject}|${ns}|${group}|${r}|${v}`));
    const controllerRules = (ns: string): Grant[] => [
      ...expand(CONTROLLER, ns, 'perseus.energy', ['perseustrainingjobs'], ['get', 'list', 'watch', 'patch', 'delete']),
      ...expand(CONTROLLER, ns, 'perseus.energy', ['perseustrainingjobs/status'], ['get', 'patch']),
      ...expand(CONTROLLER, ns, 'perseus.energy', ['perseustrainingjobs/finalizers'], ['update']),
      ...expand(CONTROLLER, ns, 'perseus.energy', ['perseusranks'], ['get', 'list', 'watch', 'create', 'patch']),
      ...expand(CONTROLLER, ns, '', ['pods'], ['get', 'list', 'watch', 'create', 'patch', 'delete']),
      ...expand(CONTROLLER, ns, '', ['services'], ['get', 'list', 'watch', 'create', 'patch']),
      ...expand(CONTROLLER, ns, '', ['configmaps'], ['get', 'list', 'watch', 'create', 'patch']),
      ...expand(CONTROLLER, ns, '', ['events'], ['create', 'patch']),
      ...expand(CONTROLLER, ns, 'events.k8s.io', ['events'], ['create', 'patch']),
    ];
    // Authenticated metrics: both review each scrape's token and access.
    const metricsAuth = (subject: string): Grant[] => [
      ...expand(subject, '*', 'authentication.k8s.io', ['tokenreviews'], ['create']),
      ...expand(subject, '*', 'authorization.k8s.io', ['subjectaccessreviews'], ['create']),
    ];
    // Gang restarts: a pod whose Node is NotReady past controller.nodeLostGrace is lost (Nodes are cluster-scoped).
    const nodeReads = expand(CONTROLLER, '*', '', ['nodes'], ['get', 'list', 'watch']);
    const leaderElection = [...expand(CONTROLLER, 'perseus-system', 'coordination.k8s.io', ['leases'], ['get', 'create', 'update']), ...metricsAuth(CONTROLLER), ...nodeReads];
    const agentRules = [
      ...metricsAuth(AGENT),
      ...expand(AGENT, '*', 'perseus.energy', ['perseusranks'], ['get', 'list', 'watch']),
      ...expand(AGENT, '*', 'perseus.energy', ['perseusranks/status'], ['update', 'patch']),
      ...expand(AGENT, '*', '', ['pods'], ['get', 'list', 'watch']),
      ...expand(AGENT, '*', '', ['events'], ['create']),
      ...expand(AGENT, '*', 'events.k8s.io', ['events'], ['create']),
    ];

    it('grants exactly the allow-listed verbs and resources with default values', async function () {
      assert.deepEqual([...(await grants())].sort(), [...controllerRules('*'), ...leaderElection, ...agentRules].sort());
    });

    it('reads Nodes only while controller.nodeLostGrace is not 0', async function () {
      const off = await grants(sets('controller.nodeLostGrace=0'));
      assert.ok(![...off].some((g) => g.includes('|nodes|')), [...off].join('\n'));
      const arg = container(one(await render(sets('controller.nodeLostGrace=0')), 'Deployment', CONTROLLER)).args.find((a) => a.startsWith('--node-lost-grace'));
      assert.equal(arg, '--node-lost-grace=0');
      const onWithRoles = await grants(sets('controller.watchNamespaces={team-a}'));
      for (const g of nodeReads) assert.ok(onWithRoles.has(g), `${g} (a ClusterRole even with watchNamespaces)`);
    });

    it('grants Roles in the watched namespaces only when watchNamespaces is set', async function () {
      const actual = await grants(sets('controller.watchNamespaces={team-a,team-b}'));
      assert.deepEqual([...actual].sort(), [...controllerRules('team-a'), ...controllerRules('team-b'), ...leaderElection, ...agentRules].sort());
    });

    it('grants the review permissions only with metrics.secure, and the scraper exactly get /metrics', async function () {
      const plain = await grants(sets('metrics.secure=false'));
      assert.ok(![...plain].some((g) => /tokenreviews|subjectaccessreviews|\|url\|/.test(g)), [...plain].join('\n'));
      const monitored = [...(await grants(MONITORING_API))].filter((g) => g.startsWith('perseus-operator-metrics-scraper|'));
      assert.deepEqual(monitored, ['perseus-operator-metrics-scraper|*|url|/metrics|get']);
    });

    it('never grants secrets, node writes, wildcards, escalation or impersonation', async function () {
      for (const g of await grants([...ALL_ON, ...MONITORING_API])) {
        const [, , group, resource, verb] = g.split('|') as [string, string, string, string, string];
        assert.ok(!['secrets', 'nodes/proxy', 'pods/exec', 'pods/attach', 'serviceaccounts/token'].includes(resource), g);
        // Nodes: read by the controller alone (lost nodes restart jobs), never written.
        if (resource === 'nodes') assert.ok(g.startsWith(`${CONTROLLER}|`) && ['get', 'list', 'watch'].includes(verb), g);
        assert.ok(group !== '*' && resource !== '*' && verb !== '*', g);
        assert.ok(!['escalate', 'bind', 'impersonate', 'deletecollection'].includes(verb), g);
      }
    });
  });

  describe('controller Deployment', function () {
    it('runs `perseus controller` leader-elected, non-root, read-only, with probes and a metrics port', async function () {
      const d = one(await render(), 'Deployment', CONTROLLER);
      const spec = podSpec(d);
      const c = container(d);
      assert.equal(spec.serviceAccountName, CONTROLLER);
      assert.deepEqual(c.args, ['controller', '--http-port=8080', '--metrics-port=8443', '--metrics-secure=true', '--workers=4', '--node-lost-grace=5m', '--log-level=info', '--leader-elect', '--lease-namespace=$(POD_NAMESPACE)', '--lease-name=perseus-controller', '--identity=$(POD_NAME)']);
      assert.equal(spec.securityContext['runAsNonRoot'], true);
      assert.equal(spec.securityContext['runAsUser'], 65532);
      assert.deepEqual(spec.securityContext['seccompProfile'], { type: 'RuntimeDefault' });
      assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
      assert.deepEqual(c.ports, [
        { name: 'metrics', containerPort: 8443, protocol: 'TCP' },
        { name: 'health', containerPort: 8080, protocol: 'TCP' },
      ]);
      assert.equal(c.livenessProbe?.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe?.httpGet.path, '/readyz');
      // Probes stay plain HTTP on their own port: the kubelet has no token for the metrics endpoint.
      assert.equal(c.livenessProbe?.httpGet.port, 'health');
      assert.equal(c.readinessProbe?.httpGet.port, 'health');
      assert.ok(c.resources?.requests?.['cpu'] !== undefined && c.resources.limits?.['memory'] !== undefined);
      assert.deepEqual(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
      assert.ok(spec.volumes.every((v) => v.hostPath === undefined));
      assert.deepEqual(get(d, 'spec', 'strategy', 'rollingUpdate'), { maxSurge: 1, maxUnavailable: 0 });
    });

    it('watches only the listed namespaces when watchNamespaces is set', async function () {
      const c = container(one(await render(sets('controller.watchNamespaces={team-a,team-b}')), 'Deployment'));
      assert.deepEqual(c.args.filter((a) => a.startsWith('--namespace=')), ['--namespace=team-a', '--namespace=team-b']);
    });
  });

  describe('agent DaemonSet', function () {
    it('runs on GPU nodes that did not opt out, with system-node-critical priority', async function () {
      const spec = podSpec(one(await render(), 'DaemonSet', AGENT));
      assert.deepEqual(spec.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
      assert.deepEqual(spec.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
      assert.equal(spec.priorityClassName, 'system-node-critical');
      assert.deepEqual(get(spec, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms'), [
        { matchExpressions: [{ key: 'perseus.energy/agent', operator: 'NotIn', values: ['disabled'] }] },
      ]);
      assert.equal(spec.serviceAccountName, AGENT);
    });

    it('holds root with CAP_SYS_ADMIN (NVML) and CAP_SYS_NICE (its nice value) and nothing more: no privileged mode, host namespaces or writable root', async function () {
      const spec = podSpec(one(await render(), 'DaemonSet', AGENT));
      const c = spec.containers[0] as Container;
      assert.equal(spec.securityContext['runAsUser'], 0);
      assert.equal(spec.hostNetwork, undefined);
      assert.equal(spec.hostPID, undefined);
      assert.equal(spec.hostIPC, undefined);
      assert.deepEqual(c.securityContext, { privileged: false, capabilities: { drop: ['ALL'], add: ['SYS_ADMIN', 'SYS_NICE'] }, allowPrivilegeEscalation: true, readOnlyRootFilesystem: true });
      assert.ok(c.args.includes('--nice=-10'), c.args.join(' '));
      assert.deepEqual(
        c.env?.filter((e) => e.name.startsWith('NVIDIA_')),
        [
          { name: 'NVIDIA_VISIBLE_DEVICES', value: 'all' },
          { name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'utility' },
        ],
      );
      // The agent requests no GPU: it must not take one away from training pods.
      assert.equal(JSON.stringify(c.resources).includes('nvidia.com/gpu'), false);
    });

    it('mounts the socket directory the controller injects into workers, pod-resources and the driver root read-only', async function () {
      const spec = podSpec(one(await render(), 'DaemonSet', AGENT));
      const c = spec.containers[0] as Container;
      const hostPaths = Object.fromEntries(spec.volumes.filter((v) => v.hostPath !== undefined).map((v) => [v.name, v.hostPath]));
      assert.deepEqual(hostPaths, {
        'agent-socket': { path: AGENT_SOCKET_DIR, type: 'DirectoryOrCreate' },
        'pod-resources': { path: '/var/lib/kubelet/pod-resources', type: 'Directory' },
        'driver-root': { path: '/run/nvidia/driver', type: 'DirectoryOrCreate' },
      });
      const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.name, m]));
      assert.deepEqual(mounts['agent-socket'], { name: 'agent-socket', mountPath: '/run/perseus' });
      assert.deepEqual(mounts['pod-resources'], { name: 'pod-resources', mountPath: '/var/lib/kubelet/pod-resources', readOnly: true });
      assert.deepEqual(mounts['driver-root'], { name: 'driver-root', mountPath: '/run/nvidia/driver', readOnly: true, mountPropagation: 'HostToContainer' });
      assert.ok(c.args.includes('--socket=/run/perseus/agent.sock'));
      assert.ok(c.args.includes('--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock'));
      assert.equal(c.args[0], 'agent');
      assert.equal(c.livenessProbe?.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe?.httpGet.path, '/readyz');
      assert.deepEqual(c.ports?.map((p) => [p.name, p.containerPort]), [
        ['metrics', 9400],
        ['health', 9401],
      ]);
      assert.ok(c.args.includes('--metrics-port=9400') && c.args.includes('--health-port=9401') && c.args.includes('--metrics-secure=true'), c.args.join(' '));
      assert.equal(c.readinessProbe?.httpGet.port, 'health');
    });

    it('drops CAP_SYS_NICE when the agent runs at the default priority (agent.nice=0)', async function () {
      const c = podSpec(one(await render(sets('agent.nice=0')), 'DaemonSet', AGENT)).containers[0] as Container;
      assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['SYS_ADMIN'] });
      assert.ok(c.args.includes('--nice=0'), c.args.join(' '));
    });

    it('leaves the driver root out when driverRoot is empty', async function () {
      const spec = podSpec(one(await render(sets('agent.driverRoot=')), 'DaemonSet'));
      assert.ok(!spec.volumes.some((v) => v.name === 'driver-root'));
      assert.ok(!(spec.containers[0] as Container).volumeMounts.some((m) => m.name === 'driver-root'));
    });
  });

  describe('authenticated metrics', function () {
    interface Endpoint {
      scheme?: string;
      authorization?: { type: string; credentials: { name: string; key: string } };
      tlsConfig?: { insecureSkipVerify?: boolean; ca?: { secret: { name: string; key: string } }; serverName?: string };
    }
    const endpoints = (objects: readonly K8sObject[]): Endpoint[] => [get<Endpoint>(one(objects, 'ServiceMonitor'), 'spec', 'endpoints', 0), get<Endpoint>(one(objects, 'PodMonitor'), 'spec', 'podMetricsEndpoints', 0)];
    const TOKEN = 'perseus-operator-metrics-scraper-token';

    it('by default the monitors scrape over https with the scraper ServiceAccount token, without verifying the self-signed certificate', async function () {
      const objects = await render(MONITORING_API);
      for (const e of endpoints(objects)) {
        assert.equal(e.scheme, 'https');
        assert.deepEqual(e.authorization, { type: 'Bearer', credentials: { name: TOKEN, key: 'token' } });
        assert.deepEqual(e.tlsConfig, { insecureSkipVerify: true });
      }
      const secret = one(objects, 'Secret', TOKEN);
      assert.equal(get(secret, 'type'), 'kubernetes.io/service-account-token');
      assert.equal(secret.metadata.annotations?.['kubernetes.io/service-account.name'], 'perseus-operator-metrics-scraper');
      assert.deepEqual(get(one(objects, 'ClusterRole', 'perseus-operator-metrics-reader'), 'rules'), [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
      // No certificate mounted: each process generates its own.
      for (const kind of ['Deployment', 'DaemonSet']) assert.ok(!container(one(objects, kind)).args.some((a) => a.startsWith('--metrics-cert-dir')));
    });

    it('metrics.secure=false: plain http, no token, no review permissions, no reader role', async function () {
      const objects = await render([...sets('metrics.secure=false'), ...MONITORING_API]);
      for (const e of endpoints(objects)) assert.deepEqual([e.scheme, e.authorization, e.tlsConfig], ['http', undefined, undefined]);
      for (const kind of ['Deployment', 'DaemonSet']) assert.ok(container(one(objects, kind)).args.includes('--metrics-secure=false'));
      assert.ok(!objects.some((o) => o.metadata.name.includes('metrics-auth') || o.metadata.name.includes('metrics-reader') || o.metadata.name.includes('metrics-scraper')));
    });

    it('cert-manager: a Certificate for both Services, its Secret mounted into both components, verified by Prometheus when asked', async function () {
      const objects = await render([...sets('metrics.tls.certManager.enabled=true', 'metrics.tls.certManager.issuerRef.name=ca-issuer', 'metrics.tls.verify=true'), ...MONITORING_API]);
      const cert = one(objects, 'Certificate');
      assert.equal(get(cert, 'spec', 'secretName'), 'perseus-operator-metrics-tls');
      assert.deepEqual(get(cert, 'spec', 'issuerRef'), { name: 'ca-issuer', kind: 'Issuer', group: 'cert-manager.io' });
      assert.deepEqual(get<string[]>(cert, 'spec', 'dnsNames').filter((n) => n.endsWith('.svc')), ['perseus-operator-controller-metrics.perseus-system.svc', 'perseus-operator-agent-metrics.perseus-system.svc']);
      for (const kind of ['Deployment', 'DaemonSet']) {
        const d = one(objects, kind);
        assert.ok(container(d).args.includes('--metrics-cert-dir=/etc/perseus/metrics-tls'));
        assert.deepEqual(
          container(d).volumeMounts.find((m) => m.name === 'metrics-tls'),
          { name: 'metrics-tls', mountPath: '/etc/perseus/metrics-tls', readOnly: true },
        );
        assert.deepEqual(podSpec(d).volumes.find((v) => v.name === 'metrics-tls'), { name: 'metrics-tls', secret: { secretName: 'perseus-operator-metrics-tls' } });
      }
      const [sm, pm] = endpoints(objects);
      assert.deepEqual(sm?.tlsConfig, { ca: { secret: { name: 'perseus-operator-metrics-tls', key: 'ca.crt' } }, serverName: 'perseus-operator-controller-metrics.perseus-system.svc' });
      assert.equal(pm?.tlsConfig?.serverName, 'perseus-operator-agent-metrics.perseus-system.svc');
    });

    it('an existing TLS Secret is mounted instead, without a Certificate', async function () {
      const objects = await render(sets('metrics.tls.secretName=my-metrics-tls'));
      assert.ok(!kinds(objects).includes('Certificate'));
      assert.deepEqual(podSpec(one(objects, 'Deployment')).volumes.find((v) => v.name === 'metrics-tls'), { name: 'metrics-tls', secret: { secretName: 'my-metrics-tls' } });
    });

    it('rejects verify without a CA, cert-manager without an issuer, and no token Secret without the scraper', async function () {
      await assert.rejects(render([...sets('metrics.tls.verify=true'), ...MONITORING_API]), /metrics\.tls\.verify: needs metrics\.tls\.secretName or metrics\.tls\.certManager\.enabled/);
      await assert.rejects(render(sets('metrics.tls.certManager.enabled=true')), /metrics\.tls\.certManager\.issuerRef\.name/);
      await assert.rejects(render([...sets('metrics.scraper.create=false'), ...MONITORING_API]), /metrics\.scraper\.tokenSecretName: required/);
    });

    it('binds extra subjects (a Prometheus without the operator) to the metrics-reader ClusterRole', async function () {
      const objects = await render(sets('metrics.reader.subjects[0].kind=ServiceAccount', 'metrics.reader.subjects[0].name=prometheus', 'metrics.reader.subjects[0].namespace=monitoring'));
      const b = one(objects, 'ClusterRoleBinding', 'perseus-operator-metrics-reader');
      assert.deepEqual(get(b, 'subjects'), [{ kind: 'ServiceAccount', name: 'prometheus', namespace: 'monitoring' }]);
    });
  });

  describe('selectors', function () {
    it('every workload selects its own pods, and every Service and monitor selects one component', async function () {
      const objects = await render([...MONITORING_API, ...sets('networkPolicy.enabled=true')]);
      const pods = new Map<string, Record<string, string>>();
      for (const w of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'DaemonSet')]) {
        const selector = get<Record<string, string>>(w, 'spec', 'selector', 'matchLabels');
        const labels = get<Record<string, string>>(w, 'spec', 'template', 'metadata', 'labels');
        for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `${w.kind} selector ${k}`);
        pods.set(w.kind, labels);
      }
      const matches = (selector: Record<string, string>): string[] => [...pods].filter(([, labels]) => Object.entries(selector).every(([k, v]) => labels[k] === v)).map(([kind]) => kind);
      const svc = (name: string): Record<string, string> => get(one(objects, 'Service', name), 'spec', 'selector');
      assert.deepEqual(matches(svc(`${CONTROLLER}-metrics`)), ['Deployment']);
      assert.deepEqual(matches(svc(`${AGENT}-metrics`)), ['DaemonSet']);
      assert.deepEqual(matches(get(one(objects, 'PodMonitor'), 'spec', 'selector', 'matchLabels')), ['DaemonSet']);
      const smSelector = get<Record<string, string>>(one(objects, 'ServiceMonitor'), 'spec', 'selector', 'matchLabels');
      const services = ofKind(objects, 'Service').filter((s) => Object.entries(smSelector).every(([k, v]) => s.metadata.labels?.[k] === v));
      assert.deepEqual(services.map((s) => s.metadata.name), [`${CONTROLLER}-metrics`]);
      for (const np of ofKind(objects, 'NetworkPolicy')) assert.equal(matches(get(np, 'spec', 'podSelector', 'matchLabels')).length, 1, np.metadata.name);
    });
  });

  describe('CRDs', function () {
    it('ships the generated CRDs of crds/ unchanged', async function () {
      const copies = await crdCopies();
      assert.deepEqual((await readdir(join(CHART, 'crds'))).sort(), [...copies.keys()].map((p) => p.split('/').at(-1)).sort());
      assert.ok(copies.size >= 2);
      for (const [path, content] of copies) assert.equal(await readFile(join(ROOT, path), 'utf8'), content, `${path} differs from crds/: run npm run gen:manifests`);
    });
  });
});
