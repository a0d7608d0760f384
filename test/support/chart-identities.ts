// The operator's own identities on the real control plane: the chart's ServiceAccounts and RBAC (rendered
// by the real helm with default values) applied once per run, the CRDs installed, a fake GPU node
// registered, and a token per ServiceAccount from the TokenRequest API. Tests act as these, never as an
// administrator, so a rule missing from the chart fails them.
import { allCrds } from '../../src/api/crds.ts';
import { NAMESPACE } from '../../scripts/gen-manifests.ts';
import { render, type K8sObject } from '../chart/helm.ts';
import type { ControlPlane } from './envtest.ts';

export interface ChartIdentities {
  /** Kubeconfig of the controller's ServiceAccount. */
  readonly controllerKubeconfig: string;
  /** Kubeconfig of the node agent's ServiceAccount. */
  readonly agentKubeconfig: string;
  /** The release namespace (where the controller's Lease lives). */
  readonly namespace: string;
  /** The controller's and agent's ServiceAccount names. */
  readonly controllerServiceAccount: string;
  readonly agentServiceAccount: string;
  /** Name of the fake GPU node kube-scheduler binds pods to. */
  readonly nodeName: string;
}

let installed: Promise<ChartIdentities> | undefined;

/** Installs (once per run) and returns the operator's identities. */
export function chartIdentities(cp: ControlPlane): Promise<ChartIdentities> {
  installed ??= install(cp);
  return installed;
}

const COLLECTIONS: Record<string, (o: K8sObject) => string> = {
  ServiceAccount: (o) => `/api/v1/namespaces/${o.metadata.namespace ?? NAMESPACE}/serviceaccounts`,
  ClusterRole: () => '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  Role: (o) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${o.metadata.namespace ?? NAMESPACE}/roles`,
  RoleBinding: (o) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${o.metadata.namespace ?? NAMESPACE}/rolebindings`,
};

async function must(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await cp.adminRequest(method, path, body);
  if (res.status >= 300 && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function install(cp: ControlPlane): Promise<ChartIdentities> {
  await must(cp, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  for (const { crd } of allCrds()) await must(cp, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  const objects = (await render()).filter((o) => o.kind in COLLECTIONS);
  for (const o of objects) await must(cp, 'POST', (COLLECTIONS[o.kind] as (o: K8sObject) => string)(o), o);
  const accounts = objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name);
  const controllerServiceAccount = accounts.find((n) => n.includes('controller'));
  const agentServiceAccount = accounts.find((n) => n.includes('agent'));
  if (!controllerServiceAccount || !agentServiceAccount) throw new Error(`the chart renders ServiceAccounts ${accounts.join(', ')}; expected a controller's and an agent's`);
  const token = async (sa: string): Promise<string> => {
    const body = (await must(cp, 'POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } })) as { status?: { token?: string } };
    if (!body.status?.token) throw new Error(`TokenRequest for ${sa} returned no token`);
    return body.status.token;
  };
  // A Ready node with GPUs and no kubelet; the harness plays the kubelet for pods bound to it.
  const nodeName = 'envtest-gpu-node';
  await must(cp, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } } });
  const capacity = { cpu: '256', memory: '2Ti', pods: '500', 'nvidia.com/gpu': '256' };
  const patched = await cp.adminRequest('PATCH', `/api/v1/nodes/${nodeName}/status`, JSON.stringify({ status: { capacity, allocatable: capacity, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake node', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }] } }), 'application/merge-patch+json');
  if (patched.status >= 300) throw new Error(`node status: ${patched.status} ${JSON.stringify(patched.body)}`);
  // The CRDs must be served before anyone acts on them.
  for (const { crd } of allCrds()) {
    const name = (crd as { metadata: { name: string } }).metadata.name;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = (await cp.adminRequest('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)).body as { status?: { conditions?: { type: string; status: string }[] } };
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    controllerKubeconfig: cp.kubeconfigForToken(await token(controllerServiceAccount), `system:serviceaccount:${NAMESPACE}:${controllerServiceAccount}`),
    agentKubeconfig: cp.kubeconfigForToken(await token(agentServiceAccount), `system:serviceaccount:${NAMESPACE}:${agentServiceAccount}`),
    namespace: NAMESPACE,
    controllerServiceAccount,
    agentServiceAccount,
    nodeName,
  };
}
