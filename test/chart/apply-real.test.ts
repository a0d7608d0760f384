// What users apply, accepted by a real kube-apiserver (server-side apply, server dry run): the chart
// rendered with each value a user switches, the plain install manifest, the CRDs, and every example job
// (validated against the CRDs' schemas and CEL rules by the real server); and what kubectl shows of the
// CRDs there: explain, printer columns, short names and categories.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../scripts/gen-manifests.ts';
import { chartIdentities, type ChartIdentities } from '../support/chart-identities.ts';
import { controlPlane, envtestUnavailable, type ControlPlane } from '../support/envtest.ts';
import { kubectlPath } from '../support/kube-tools.ts';
import { startTestServer, type TestServer } from '../support/servers.ts';
import { ALL_OFF, ALL_ON, renderText, sets } from './helm.ts';

const run = promisify(execFile);
/** Namespaces the chart's watchNamespaces variant grants Roles in. */
const WATCHED = ['team-a', 'team-b'];
/** The namespaces the example jobs name (others go to default). */
const JOBS_NAMESPACES = ['training'];

const CHART_VARIANTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['every toggle off', ALL_OFF],
  ['every toggle on', ALL_ON],
  ['agent.enabled=false', sets('agent.enabled=false')],
  ['networkPolicy.enabled=true', sets('networkPolicy.enabled=true')],
  ['grafana.dashboard.enabled=false', sets('grafana.dashboard.enabled=false')],
  ['existing ServiceAccounts', sets('controller.serviceAccount.create=false', 'agent.serviceAccount.create=false')],
  ['controller.leaderElection.enabled=false', sets('controller.leaderElection.enabled=false')],
  ['watchNamespaces', ['--set', `controller.watchNamespaces={${WATCHED.join(',')}}`]],
  ['agent.nice=0 (no CAP_SYS_NICE)', sets('agent.nice=0')],
  ['agent.driverRoot empty', ['--set', 'agent.driverRoot=']],
  ['image pinned by digest', sets(`image.digest=sha256:${'a'.repeat(64)}`)],
];

describe('manifests and examples accepted by kube-apiserver (server-side apply, dry run)', function () {
  const unavailable = envtestUnavailable();
  if (unavailable) {
    it(`skipped: ${unavailable}`, function () {
      this.skip();
    });
    return;
  }
  this.timeout(120_000);
  let cp: ControlPlane;
  let ids: ChartIdentities;
  let server: TestServer;
  let kubeconfig: string;

  before(async function () {
    this.timeout(300_000);
    cp = await controlPlane();
    ids = await chartIdentities(cp);
    server = await startTestServer('kube-apiserver');
    kubeconfig = join(cp.dir, 'admin-kubeconfig');
    writeFileSync(kubeconfig, cp.adminKubeconfigYaml);
    for (const name of [...WATCHED, ...JOBS_NAMESPACES]) {
      const res = await cp.adminRequest('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      assert.ok(res.status === 201 || res.status === 409, `namespace ${name}: ${res.status}`);
    }
  });
  after(async () => {
    await server?.stop();
  });

  /** Applies `file` with server-side apply as a dry run; returns the applied object lines. */
  async function dryRunApply(file: string, namespace?: string): Promise<string[]> {
    const { stdout } = await run(await kubectlPath(), ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '--dry-run=server', '--field-manager', 'perseus-test', ...(namespace === undefined ? [] : ['-n', namespace]), '-f', file]);
    return stdout.split('\n').filter((l) => /serverside-applied/.test(l));
  }

  for (const [title, values] of CHART_VARIANTS) {
    it(`the chart with ${title}`, async () => {
      const text = await renderText(values);
      const file = join(cp.dir, `chart-${title.replace(/[^a-z0-9]+/gi, '-')}.yaml`);
      writeFileSync(file, text);
      const applied = await dryRunApply(file);
      const documents = text.split(/^---$/m).filter((d) => /^kind:/m.test(d)).length;
      assert.equal(applied.length, documents, `every rendered object accepted:\n${applied.join('\n')}`);
      assert.ok(applied.some((l) => l.startsWith('deployment.apps/')), applied.join('\n'));
    });
  }

  it('manifests/install.yaml', async () => {
    const applied = await dryRunApply(join(ROOT, 'manifests', 'install.yaml'), ids.namespace);
    for (const kind of ['customresourcedefinition.apiextensions.k8s.io/', 'deployment.apps/', 'daemonset.apps/', 'clusterrole.rbac.authorization.k8s.io/']) {
      assert.ok(applied.some((l) => l.startsWith(kind)), `${kind} in:\n${applied.join('\n')}`);
    }
  });

  it('the CRDs of crds/', async () => {
    const applied = await dryRunApply(join(ROOT, 'crds'), ids.namespace);
    assert.deepEqual(applied.map((l) => l.split(' ')[0]).sort(), ['customresourcedefinition.apiextensions.k8s.io/perseusranks.perseus.energy', 'customresourcedefinition.apiextensions.k8s.io/perseustrainingjobs.perseus.energy']);
  });

  const examples = [
    ...readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join('examples', f)),
    ...readdirSync(join(ROOT, 'manifests', 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join('manifests', 'examples', f)),
  ];
  it('finds the example jobs', () => {
    assert.ok(examples.length >= 4, examples.join(', '));
  });
  const kubectl = async (...args: string[]): Promise<string> => (await run(await kubectlPath(), ['--kubeconfig', kubeconfig, ...args])).stdout;

  it('kubectl explain describes PerseusTrainingJob fields from the published schema', async () => {
    const out = await kubectl('explain', 'perseustrainingjob.spec.topology');
    assert.match(out, /KIND:\s+PerseusTrainingJob/);
    assert.match(out, /stages\s+<integer> -required-/);
    assert.match(out, /dataParallel\s+<integer>/);
  });

  it('kubectl explain describes PerseusRank', async () => {
    const out = await kubectl('explain', 'perseusrank.spec');
    assert.match(out, /KIND:\s+PerseusRank/);
    assert.match(out, /mode\s+<string>/);
  });

  it('kubectl get ptj prints the Phase, Stages, Pipelines, Savings and Age columns; ptj and prank resolve', async () => {
    await kubectl('apply', '--server-side', '--field-manager', 'perseus-test', '-f', join(ROOT, 'examples', 'gpt3-8stage.yaml'));
    const table = await kubectl('get', 'ptj', '-n', JOBS_NAMESPACES[0]!);
    // No controller runs here: Phase and Savings are empty.
    assert.match(table, /^NAME\s+PHASE\s+STAGES\s+PIPELINES\s+SAVINGS\s+AGE\n\S+(?:\s+<none>)?\s+8\s+\d+(?:\s+<none>)?\s+\d+s\n$/);
    // An unknown resource name fails the command; prank resolves (no ranks exist without a controller).
    assert.match(await kubectl('get', 'prank', '-A', '-o', 'name'), /^(perseusrank\.perseus\.energy\/\S+\n)*$/);
    // Category "perseus" lists both kinds; "all" includes the jobs.
    assert.match(await kubectl('get', 'perseus', '-n', JOBS_NAMESPACES[0]!, '-o', 'name'), /^perseustrainingjob\.perseus\.energy\/\S+$/m);
    assert.match(await kubectl('get', 'all', '-n', JOBS_NAMESPACES[0]!, '-o', 'name'), /^perseustrainingjob\.perseus\.energy\/\S+$/m);
  });

  for (const example of examples) {
    it(`the example ${example}`, async () => {
      const applied = await dryRunApply(join(ROOT, example));
      assert.ok(applied.some((l) => l.startsWith('perseustrainingjob.perseus.energy/')), applied.join('\n'));
    });
  }
});
