// Conformance through the real kubectl binary: discovery, create/get/apply (client- and server-side),
// patch types, watch, wait, describe, explain, CRD schema errors, GC, and the `perseus apiserver` CLI.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { load, loadAll } from 'js-yaml';
import { kubectlPath } from '../support/kube-tools.ts';
import { crdNotTerminating, deferred, postJson, startHarness, waitForObject, widgetCrd, type Harness } from './helpers.ts';
import { describeOnServers } from '../support/servers.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describeOnServers('apiserver: kubectl', function (kind) {
  this.timeout(120_000);
  let h: Harness;
  let dir: string;
  let kubectl: string;

  const run = (args: string[], input?: string): Promise<Result> =>
    new Promise((resolve) => {
      const child = execFile(kubectl, ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await run(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const file = async (name: string, content: unknown): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  before(async () => {
    kubectl = await kubectlPath();
    h = await startHarness(kind);
    dir = await mkdtemp(join(tmpdir(), 'perseus-kubectl-'));
    await writeFile(join(dir, 'kubeconfig'), h.server.kubeconfigYaml());
  });
  after(async () => {
    await h.server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('discovers built-in resources and reports the server version', async () => {
    const resources = await ok(['api-resources', '-o', 'name']);
    for (const name of ['pods', 'configmaps', 'leases.coordination.k8s.io', 'deployments.apps', 'customresourcedefinitions.apiextensions.k8s.io', 'events.events.k8s.io']) {
      assert.ok(resources.split('\n').includes(name), `missing ${name}`);
    }
    const version = JSON.parse(await ok(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
    assert.equal(version.serverVersion.gitVersion, kind === 'embedded' ? 'v1.35.0' : 'v1.26.0');
    // A shared real cluster lists other namespaces too (a suite's, still terminating, sorts before default).
    assert.match(await ok(['get', 'namespaces']), /^NAME\s+STATUS\s+AGE\n(?:.*\n)*default\s+Active\s/);
  });

  it('creates, gets, lists and deletes with printed tables', async () => {
    const cm = await file('cm.yaml', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'k1', labels: { app: 'k' } }, data: { a: '1' } });
    assert.equal((await ok(['create', '-f', cm])).trim(), 'configmap/k1 created');
    const table = await ok(['get', 'configmaps', '-l', 'app=k']);
    assert.match(table, /^NAME\s+DATA\s+AGE\nk1\s+1\s+\d+s\n$/);
    const json = JSON.parse(await ok(['get', 'configmap', 'k1', '-o', 'json'])) as { data: Record<string, string> };
    assert.deepEqual(json.data, { a: '1' });
    assert.equal((await ok(['get', 'cm', 'k1', '-o', 'jsonpath={.metadata.uid}'])).length, 36);
    const missing = await run(['get', 'cm', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'Error from server (NotFound): configmaps "nope" not found');
    const dup = await run(['create', '-f', cm]);
    assert.equal(dup.stderr.trim(), 'Error from server (AlreadyExists): error when creating "' + cm + '": configmaps "k1" already exists');
    assert.match(await ok(['delete', 'cm', 'k1']), /configmap "k1" deleted/);
  });

  it('applies client-side and server-side, reporting SSA conflicts', async () => {
    const doc = (value: string): unknown => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { key: value } });
    assert.match(await ok(['apply', '-f', await file('a1.json', doc('one'))]), /configmap\/applied created/);
    assert.match(await ok(['apply', '-f', await file('a2.json', doc('two'))]), /configmap\/applied configured/);
    assert.equal(await ok(['get', 'cm', 'applied', '-o', 'jsonpath={.data.key}']), 'two');
    const ssa = await file('s1.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { key: 'one' } });
    assert.match(await ok(['apply', '--server-side', '--field-manager', 'alice', '-f', ssa]), /configmap\/ssa serverside-applied/);
    const other = await file('s2.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { key: 'two' } });
    const conflict = await run(['apply', '--server-side', '--field-manager', 'bob', '-f', other]);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "alice": \.data\.key|Apply failed with 1 conflict: conflict with "alice" using v1: \.data\.key/);
    assert.match(await ok(['apply', '--server-side', '--field-manager', 'bob', '--force-conflicts', '-f', other]), /serverside-applied/);
    const managers = JSON.parse(await ok(['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields'])) as { metadata: { managedFields: { manager: string }[] } };
    assert.deepEqual(managers.metadata.managedFields.map((m) => m.manager), ['bob']);
  });

  it('patches with json, merge and strategic types', async () => {
    await ok(['create', '-f', await file('dep.json', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }] } } } })]);
    await ok(['patch', 'deployment', 'web', '--type=strategic', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'b', image: 'b:2' }] } } } })]);
    assert.equal(await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[*].image}']), 'a:1 b:2');
    await ok(['patch', 'deployment', 'web', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
    await ok(['patch', 'deployment', 'web', '--type=json', '-p', '[{"op":"add","path":"/metadata/labels","value":{"x":"y"}}]']);
    const dep = JSON.parse(await ok(['get', 'deploy', 'web', '-o', 'json'])) as { spec: { replicas: number }; metadata: { labels: Record<string, string>; generation: number } };
    assert.equal(dep.spec.replicas, 3);
    assert.deepEqual(dep.metadata.labels, { x: 'y' });
    assert.equal(dep.metadata.generation, 3);
  });

  it('registers a CRD, waits for Established, prints columns and rejects invalid objects with the real message', async () => {
    await crdNotTerminating(h.kc, widgetCrd.metadata.name);
    await ok(['apply', '-f', await file('crd.json', widgetCrd)]);
    assert.match(await ok(['wait', '--for=condition=Established', 'crd/widgets.test.perseus.energy', '--timeout=10s']), /condition met/);
    await ok(['apply', '-f', await file('w1.json', { apiVersion: 'test.perseus.energy/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { stages: 3 } })]);
    assert.match(await ok(['get', 'widgets']), /^NAME\s+STAGES\s+PHASE\s+AGE\nw1\s+3\s+\d+s\n$/);
    assert.match(await ok(['get', 'wdg', 'w1', '-o', 'name']), /^widget\.test\.perseus\.energy\/w1\n$/);
    const invalid = await run(['apply', '-f', await file('bad.json', { apiVersion: 'test.perseus.energy/v1', kind: 'Widget', metadata: { name: 'bad' }, spec: { stages: 0 } })]);
    assert.equal(invalid.code, 1);
    // Schema and CEL rules are both evaluated; kubectl lists every cause.
    assert.match(invalid.stderr, /The Widget "bad" is invalid: \n\* spec\.stages: Invalid value: 0: spec\.stages in body should be greater than or equal to 1\n\* spec: Invalid value: "object": minStages must not exceed stages/);
    const unknown = await run(['apply', '-f', await file('unknown.json', { apiVersion: 'test.perseus.energy/v1', kind: 'Widget', metadata: { name: 'unk' }, spec: { stages: 1, bogus: 1 } })]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /strict decoding error: unknown field "spec\.bogus"/);
  });

  it('explains custom and built-in types from OpenAPI v3', async () => {
    const out = await ok(['explain', 'widgets.spec']);
    assert.match(out, /KIND:\s+Widget/);
    assert.match(out, /stages\s+<integer> -required-/);
    assert.match(out, /Number of pipeline stages\./);
    assert.match(await ok(['explain', 'configmap.data']), /Data contains the configuration data\./);
  });

  it('waits for a condition set through the status subresource, and describes the object', async () => {
    const waiting = run(['wait', '--for=condition=Ready', 'widget/w1', '--timeout=20s']);
    await waitForObject(h.kc, '/apis/test.perseus.energy/v1/namespaces/default/widgets', 'w1', () => true);
    await h.custom.patchNamespacedCustomObjectStatus(
      { group: 'test.perseus.energy', version: 'v1', namespace: 'default', plural: 'widgets', name: 'w1', body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', reason: 'Up', message: 'ready', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } } },
      (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'),
    );
    const result = await waiting;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /widget\.test\.perseus\.energy\/w1 condition met/);
    const described = await ok(['describe', 'widget', 'w1']);
    assert.match(described, /^Name:\s+w1$/m);
    assert.match(described, /Phase:\s+Running/);
  });

  it('streams watch events', async () => {
    const child: ChildProcess = spawn(kubectl, ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), 'get', 'configmaps', '--watch', '--output-watch-events', '-l', 'watched=yes']);
    const lines: string[] = [];
    const got = deferred<void>();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line.trim());
      if (lines.length >= 3) got.resolve();
    });
    try {
      await waitForObject(h.kc, '/api/v1/namespaces/default/configmaps', 'applied', () => true);
      // kubectl opens its watch after listing; create objects until both events are seen.
      await h.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'watched', labels: { watched: 'yes' } } } });
      const stop = setInterval(() => {
        void h.core.patchNamespacedConfigMap({ namespace: 'default', name: 'watched', body: [{ op: 'add', path: '/data', value: { t: String(Date.now()) } }] });
      }, 200);
      await got.promise.finally(() => clearInterval(stop));
    } finally {
      child.kill('SIGTERM');
    }
    assert.match(lines[0] ?? '', /^EVENT\s+NAME\s+DATA\s+AGE$/);
    assert.match(lines[1] ?? '', /^ADDED\s+watched\s+[01]\s+\d+s$/);
    assert.match(lines[2] ?? '', /^MODIFIED\s+watched\s+1\s+\d+s$/);
  });

  it('deletes with cascading garbage collection', async () => {
    await ok(['create', '-f', await file('owner.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } })]);
    const uid = await ok(['get', 'cm', 'owner', '-o', 'jsonpath={.metadata.uid}']);
    await ok(['create', '-f', await file('dep2.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid, blockOwnerDeletion: true }] } })]);
    await ok(['delete', 'cm', 'owner', '--cascade=foreground', '--wait=true', '--timeout=20s']);
    const gone = await run(['get', 'cm', 'dependent']);
    assert.match(gone.stderr, /NotFound/);
  });

  it('applies the project CRDs and examples', async function () {
    const crds = (await readdir('crds').catch(() => [])).filter((f) => f.endsWith('.yaml'));
    if (crds.length === 0) this.skip(); // the generated CRDs are not in this checkout yet
    await ok(['apply', '-f', 'crds/']);
    await ok(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=10s']);
    for (const example of (await readdir('examples').catch(() => [])).filter((f) => f.endsWith('.yaml'))) {
      const docs = loadAll(await readFile(join('examples', example), 'utf8')) as { metadata?: { namespace?: string } }[];
      for (const ns of new Set(docs.map((d) => d.metadata?.namespace).filter((n): n is string => n !== undefined))) {
        await run(['create', 'namespace', ns]).then(async (r) => (r.code === 0 ? undefined : postJson(h.kc, '/api/v1/namespaces', { metadata: { name: ns } }).catch(() => undefined)));
      }
      await ok(['apply', '-f', join('examples', example)]);
      await ok(['apply', '--server-side', '--force-conflicts', '-f', join('examples', example)]);
    }
    assert.match(await ok(['get', 'perseustrainingjobs', '-A']), /NAME/);
  });
});

describe('perseus apiserver command', function () {
  this.timeout(60_000);

  it('serves a kubeconfig that kubectl can use', async () => {
    const kubectl = await kubectlPath();
    const dir = await mkdtemp(join(tmpdir(), 'perseus-cli-'));
    const kubeconfig = join(dir, 'kubeconfig');
    const child = spawn(process.execPath, ['bin/perseus.js', 'apiserver', '--port', '0', '--kubeconfig-out', kubeconfig], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const ready = deferred<void>();
      createInterface({ input: child.stderr! }).on('line', (line) => {
        if (line.includes('kubeconfig written')) ready.resolve();
      });
      child.once('exit', (code) => ready.reject(new Error(`perseus apiserver exited with ${code}`)));
      await ready.promise;
      const config = load(await readFile(kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'insecure-skip-tls-verify': boolean } }[]; users: { user: { token: string } }[] };
      assert.match(config.clusters[0]?.cluster.server ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(config.clusters[0]?.cluster['insecure-skip-tls-verify'], true);
      assert.match(config.users[0]?.user.token ?? '', /^[0-9a-f]{32}$/);
      const out = await new Promise<string>((resolve, reject) => execFile(kubectl, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'get', 'ns', '-o', 'name'], (err, stdout) => (err === null ? resolve(stdout) : reject(err))));
      assert.deepEqual(out.trim().split('\n'), ['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
