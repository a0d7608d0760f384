// manifests/ (generated from the chart), the image's Dockerfile, the README's install commands and the CI
// line that provides promtool.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { validateJob } from '../../src/api/index.ts';
import { CHART_DIR, EXAMPLE_COPIES, generateManifests, NAMESPACE, RELEASE, ROOT } from '../../scripts/gen-manifests.ts';
import { helmPath } from '../support/kube-tools.ts';
import { get, helm, one, parseObjects, render, renderText } from './helm.ts';

const read = (path: string): Promise<string> => readFile(join(ROOT, path), 'utf8');

/** The shell commands of the README's "Install on a cluster" section (```sh blocks), one per line. */
async function readmeInstallCommands(): Promise<string[]> {
  const readme = await read('README.md');
  const start = readme.indexOf('\n## Install on a cluster\n');
  assert.ok(start >= 0, 'README.md has an "Install on a cluster" section');
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n')).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

describe('Plain manifests', function () {
  this.timeout(60_000);

  it('manifests/ equals what `npm run gen:manifests` generates from the chart', async function () {
    const files = await generateManifests(await helmPath());
    assert.ok(files.size >= 5);
    for (const [path, content] of files) assert.equal(await read(path), content, `${path} is stale: run npm run gen:manifests`);
  });

  it('install.yaml is the labeled namespace, the CRDs, then the default render', async function () {
    const objects = parseObjects(await read('manifests/install.yaml'));
    const [ns, ...rest] = objects;
    assert.equal(ns?.kind, 'Namespace');
    assert.equal(ns.metadata.name, NAMESPACE);
    assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    const crds = rest.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort();
    assert.deepEqual(crds, ['perseusranks.perseus.energy', 'perseustrainingjobs.perseus.energy']);
    const rendered = await render();
    assert.deepEqual(rest.filter((o) => o.kind !== 'CustomResourceDefinition'), rendered);
  });

  it('example jobs are valid PerseusTrainingJobs and identical to their sources in examples/', async function () {
    for (const [source, copy] of Object.entries(EXAMPLE_COPIES)) {
      assert.equal(await read(copy), await read(source));
      const job = yaml.load(await read(copy)) as { apiVersion: string; kind: string; metadata: { name: string }; spec: unknown };
      assert.equal(job.kind, 'PerseusTrainingJob');
      const result = validateJob(job);
      assert.ok(result.ok, `${copy}: ${JSON.stringify(result.ok ? [] : result.issues)}`);
    }
    const granularities = await Promise.all(Object.values(EXAMPLE_COPIES).map(async (p) => get<string | undefined>(yaml.load(await read(p)), 'spec', 'planning', 'granularity') ?? 'Instruction'));
    assert.deepEqual(granularities.sort(), ['Instruction', 'Stage']);
  });
});

describe('README install commands', function () {
  this.timeout(60_000);

  it('helm install uses the chart, release and namespace the tests render', async function () {
    const commands = await readmeInstallCommands();
    const install = commands.find((c) => c.startsWith('helm install '));
    assert.ok(install !== undefined, 'a helm install command');
    const args = install.split(/\s+/).slice(1);
    assert.deepEqual(args, ['install', RELEASE, CHART_DIR, '--namespace', NAMESPACE]);
    // The same command as `helm template`, run from the repository root, gives the default render.
    const { stdout } = await helm(['template', ...args.slice(1, 2), join(ROOT, args[2] as string), ...args.slice(3)]);
    assert.equal(stdout, await renderText());
    assert.ok(commands.includes(`kubectl create namespace ${NAMESPACE}`));
    assert.ok(commands.includes(`kubectl label namespace ${NAMESPACE} pod-security.kubernetes.io/enforce=privileged`));
    assert.ok(commands.indexOf(`kubectl label namespace ${NAMESPACE} pod-security.kubernetes.io/enforce=privileged`) < commands.indexOf(install), 'label before install');
  });

  it('kubectl apply names existing files: install.yaml and an example job', async function () {
    const applies = (await readmeInstallCommands()).filter((c) => c.startsWith('kubectl apply '));
    assert.ok(applies.includes('kubectl apply --server-side -f manifests/install.yaml'));
    for (const cmd of applies) {
      const file = cmd.split(/\s+/).at(-1) as string;
      assert.ok((await read(file)).length > 0, file);
    }
    const example = applies.find((c) => c.includes('manifests/examples/'));
    assert.ok(example !== undefined);
    const job = yaml.load(await read(example.split(/\s+/).at(-1) as string)) as { metadata: { namespace?: string } };
    assert.ok((await readmeInstallCommands()).includes(`kubectl create namespace ${job.metadata.namespace ?? 'default'}`), 'the example namespace is created');
  });
});

describe('Dockerfile', function () {
  it('is multi-stage, pins its base image, runs as non-root and enters through bin/perseus.js', async function () {
    const text = await read('Dockerfile');
    const froms = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => m[1] as string);
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const image of froms) assert.match(image, /^node:\d+\.\d+\.\d+-[a-z]+-slim(@sha256:[a-f0-9]{64})?$/, `${image} is pinned to an exact release`);
    const users = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1] as string);
    assert.equal(users.length, 1);
    const [uid] = (users[0] as string).split(':');
    assert.ok(uid !== undefined && /^\d+$/.test(uid) && Number(uid) !== 0, 'a numeric non-root USER');
    assert.equal(get(one(await render(), 'Deployment'), 'spec', 'template', 'spec', 'securityContext', 'runAsUser'), Number(uid), 'the controller runs as the image user');
    assert.match(text, /^ENTRYPOINT \["node", "\/app\/bin\/perseus\.js"\]$/m);
    // The image runs the compiled build (dist/), like scripts/build-image.sh: no transpiler at run time.
    assert.match(text, /npm run build/);
    assert.match(text, /cp -r dist \/app\//);
    assert.doesNotMatch(text, /tsx/);
    const final = text.slice(text.lastIndexOf('\nFROM '));
    assert.doesNotMatch(final, /^COPY src /m, 'the sources stay in the build stage (bin/perseus.js then runs dist/)');
    assert.match(text, /npm ci --omit=dev/);
  });

  it('.dockerignore keeps node_modules, tests and the git history out of the build context', async function () {
    const lines = (await read('.dockerignore')).split('\n').map((l) => l.trim());
    for (const entry of ['**/node_modules', '.git', 'test']) assert.ok(lines.includes(entry), entry);
  });
});

describe('CI script', function () {
  it('installs prometheus and promtool idempotently before npm test', async function () {
    const ci = await read('.ci/run');
    const line = '(command -v prometheus && command -v promtool) >/dev/null || apt_install prometheus';
    assert.ok(ci.includes(line));
    assert.ok(ci.indexOf(line) < ci.indexOf('npm test'));
  });
});
