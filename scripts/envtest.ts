// `npm run envtest`: the test suites' private control plane (etcd, kube-apiserver and, when the assets
// folder has them, kube-controller-manager and kube-scheduler from $KUBEBUILDER_ASSETS), started for manual
// runs: the CRDs, the chart's ServiceAccounts and RBAC and a fake GPU node installed, kubeconfigs written
// for the administrator and for the controller's and the agent's ServiceAccounts. Stops on Ctrl-C.
import { mkdirSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { chartIdentities } from '../test/support/chart-identities.ts';
import { controlPlane, envtestUnavailable, stopControlPlane } from '../test/support/envtest.ts';

const out = resolve(process.argv[2] ?? 'out/envtest');
const unavailable = envtestUnavailable();
if (unavailable) {
  process.stderr.write(`envtest: ${unavailable}\n`);
  process.exit(2);
}
process.stderr.write('envtest: starting etcd, kube-apiserver and the optional components (10–30 s)...\n');
const cp = await controlPlane();
const ids = await chartIdentities(cp);
mkdirSync(out, { recursive: true });
const files = {
  admin: relative(process.cwd(), resolve(out, 'admin.kubeconfig')),
  controller: relative(process.cwd(), resolve(out, 'controller.kubeconfig')),
  agent: relative(process.cwd(), resolve(out, 'agent.kubeconfig')),
};
writeFileSync(files.admin, cp.adminKubeconfigYaml, { mode: 0o600 });
writeFileSync(files.controller, ids.controllerKubeconfig, { mode: 0o600 });
writeFileSync(files.agent, ids.agentKubeconfig, { mode: 0o600 });
process.stdout.write(
  [
    `kube-apiserver ${cp.url} (controller manager: ${cp.controllerManager ? 'yes' : 'no'}, scheduler: ${cp.scheduler ? 'yes' : 'no'})`,
    `administrator:                       ${files.admin}`,
    `${ids.controllerServiceAccount} (chart): ${files.controller}`,
    `${ids.agentServiceAccount} (chart):      ${files.agent}`,
    `installed: the CRDs, namespace ${ids.namespace} with the chart's ServiceAccounts and RBAC, node ${ids.nodeName}`,
    'Ctrl-C stops it and removes its files.',
    '',
  ].join('\n'),
);
await new Promise<void>((done) => {
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
});
await stopControlPlane();
