// The chart's RBAC on a real kube-apiserver: what each ServiceAccount may do (SelfSubjectRulesReview, asked
// with the account's own token) equals the allow-list kept in test/fixtures/rbac-allowlist.json, so a rule
// added to or removed from the chart fails here; and the chart, rendered with default values and with every
// option on, is accepted by server-side apply (server dry run).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { chartIdentities, type ChartIdentities } from '../support/chart-identities.ts';
import { controlPlane, envtestUnavailable, type ControlPlane } from '../support/envtest.ts';
import { kubectlPath } from '../support/kube-tools.ts';
import { kubeRequest } from '../support/servers.ts';
import { renderText, sets } from './helm.ts';

const run = promisify(execFile);
const ALLOWLIST = join(import.meta.dirname, '..', 'fixtures', 'rbac-allowlist.json');

interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}
interface NonResourceRule {
  verbs: string[];
  nonResourceURLs?: string[];
}

/** Flattens a rules review into sorted "verb group/resource[name]" and "verb url" lines. */
function permissions(status: { resourceRules?: ResourceRule[]; nonResourceRules?: NonResourceRule[] }): string[] {
  const out = new Set<string>();
  for (const r of status.resourceRules ?? []) {
    for (const verb of r.verbs) for (const group of r.apiGroups ?? ['']) for (const resource of r.resources ?? []) {
      const names = r.resourceNames && r.resourceNames.length > 0 ? r.resourceNames : [''];
      for (const name of names) out.add(`${verb} ${group === '' ? 'core' : group}/${resource}${name === '' ? '' : `[${name}]`}`);
    }
  }
  for (const r of status.nonResourceRules ?? []) for (const verb of r.verbs) for (const url of r.nonResourceURLs ?? []) out.add(`${verb} ${url}`);
  return [...out].sort();
}

describe('chart RBAC on kube-apiserver', function () {
  const unavailable = envtestUnavailable();
  if (unavailable) {
    it(`skipped: ${unavailable}`, function () {
      this.skip();
    });
    return;
  }
  this.timeout(180_000);
  let cp: ControlPlane;
  let ids: ChartIdentities;
  before(async function () {
    this.timeout(300_000);
    cp = await controlPlane();
    ids = await chartIdentities(cp);
  });

  const review = async (kubeconfig: string, namespace: string): Promise<string[]> => {
    const res = await kubeRequest(kubeConfigFromYaml(kubeconfig), 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } });
    assert.equal(res.status, 201, res.text);
    return permissions(res.body['status'] as Parameters<typeof permissions>[0]);
  };

  it('each ServiceAccount may do exactly what the allow-list says, in a workload namespace and in the release namespace', async () => {
    const actual: Record<string, string[]> = {
      'controller@workload': await review(ids.controllerKubeconfig, 'default'),
      'controller@release': await review(ids.controllerKubeconfig, ids.namespace),
      'agent@workload': await review(ids.agentKubeconfig, 'default'),
      'agent@release': await review(ids.agentKubeconfig, ids.namespace),
    };
    if (process.env.PERSEUS_WRITE_RBAC_ALLOWLIST === '1') writeFileSync(ALLOWLIST, JSON.stringify(actual, null, 2) + '\n');
    const expected = JSON.parse(readFileSync(ALLOWLIST, 'utf8')) as Record<string, string[]>;
    assert.deepEqual(actual, expected, 'the chart grants something other than test/fixtures/rbac-allowlist.json (PERSEUS_WRITE_RBAC_ALLOWLIST=1 rewrites it after review)');
    // The controller may not touch Secrets and only reads Nodes (gang restarts on lost nodes); the agent may not write jobs or pods.
    assert.ok(!actual['controller@workload']!.some((p) => /\/secrets|^(create|update|patch|delete|deletecollection) core\/nodes/.test(p)));
    assert.ok(!actual['agent@workload']!.some((p) => /^(create|update|patch|delete) (perseus\.energy\/perseustrainingjobs|core\/pods)/.test(p)));
  });

  for (const [title, extra] of [
    ['default values', [] as string[]],
    ['every option on', sets('networkPolicy.enabled=true', 'agent.privileged=true', 'agent.runtimeClassName=nvidia', 'controller.replicas=2')],
  ] as const) {
    it(`accepts the chart rendered with ${title} through server-side apply`, async () => {
      const file = join(cp.dir, `chart-${title.replace(/ /g, '-')}.yaml`);
      writeFileSync(file, await renderText(extra));
      const kubeconfig = join(cp.dir, 'admin-kubeconfig');
      writeFileSync(kubeconfig, cp.adminKubeconfigYaml);
      const { stdout } = await run(await kubectlPath(), ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--dry-run=server', '--field-manager', 'helm', '-n', ids.namespace, '-f', file]);
      const applied = stdout.split('\n').filter((l) => /serverside-applied/.test(l));
      assert.ok(applied.some((l) => l.startsWith('deployment.apps/')) && applied.some((l) => l.startsWith('daemonset.apps/')), stdout);
      assert.ok(applied.some((l) => l.startsWith('clusterrole.rbac.authorization.k8s.io/')), stdout);
    });
  }
});
