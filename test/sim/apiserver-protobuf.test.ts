// Kubernetes protobuf request bodies: the decoder on hand-built byte buffers (well-formed and malformed),
// the HTTP answers (400, 415), and the real kubectl's `create <generator>` commands, which send protobuf.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { ApiError } from '../../src/sim/apiserver/errors.ts';
import { decodeKubeProtobuf } from '../../src/sim/apiserver/protobuf.ts';
import { kubectlPath } from '../support/kube-tools.ts';
import { createNamespace, startHarness, type Harness } from './helpers.ts';
import { uniqueSuffix } from '../support/envtest.ts';
import { describeOnServers, kubeRequest } from '../support/servers.ts';

// ---------------------------------------------------------------- a minimal encoder for test inputs

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return out;
}
const tag = (field: number, wireType: number): number[] => varint((field << 3) | wireType);
const vi = (field: number, value: number | bigint | boolean): number[] => [...tag(field, 0), ...varint(typeof value === 'boolean' ? Number(value) : value)];
const ld = (field: number, bytes: number[] | Uint8Array): number[] => [...tag(field, 2), ...varint(bytes.length), ...bytes];
const s = (field: number, text: string): number[] => ld(field, [...Buffer.from(text, 'utf8')]);
const entry = (field: number, key: string, value: number[]): number[] => ld(field, [...s(1, key), ...ld(2, value)]);
const strEntry = (field: number, key: string, value: string): number[] => entry(field, key, [...Buffer.from(value, 'utf8')]);
const magic = [0x6b, 0x38, 0x73, 0x00];
function envelope(apiVersion: string, kind: string, raw: number[], extra: number[] = []): Buffer {
  return Buffer.from([...magic, ...ld(1, [...s(1, apiVersion), ...s(2, kind)]), ...ld(2, raw), ...s(3, ''), ...s(4, ''), ...extra]);
}

function decodeError(body: Uint8Array): ApiError {
  try {
    decodeKubeProtobuf(body);
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the body to be rejected');
}

describe('apiserver: protobuf decoder', () => {
  it('decodes ObjectMeta fully, leaving out the zero values Go writes for non-pointer fields', () => {
    const ownerRef = [...s(1, 'Deployment'), ...s(3, 'web'), ...s(4, 'uid-1'), ...s(5, 'apps/v1'), ...vi(6, true), ...vi(7, false)];
    const meta = [
      ...s(1, ''),
      ...s(2, 'gen-'),
      ...s(3, 'team'),
      ...s(4, ''),
      ...s(5, ''),
      ...s(6, ''),
      ...vi(7, 0),
      ...ld(8, [...vi(1, 1_700_000_000), ...vi(2, 500)]),
      ...vi(10, 0),
      ...strEntry(11, 'app', 'web'),
      ...strEntry(11, 'tier', 'front'),
      ...strEntry(12, 'note', 'héllo'),
      ...ld(13, ownerRef),
      ...s(14, 'example.com/a'),
      ...s(14, 'example.com/b'),
      ...ld(17, [...s(1, 'kubectl'), ...s(2, 'Update'), ...s(3, 'v1'), ...ld(4, vi(1, 1_700_000_000)), ...s(6, 'FieldsV1'), ...ld(7, s(1, '{"f:data":{}}'))]),
    ];
    const obj = decodeKubeProtobuf(envelope('v1', 'ConfigMap', [...ld(1, meta), ...strEntry(2, 'a', '1'), ...entry(3, 'bin', [0xff, 0x00, 0xfe]), ...vi(4, false)]));
    assert.deepEqual(obj, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        generateName: 'gen-',
        namespace: 'team',
        creationTimestamp: '2023-11-14T22:13:20Z',
        deletionGracePeriodSeconds: 0,
        labels: { app: 'web', tier: 'front' },
        annotations: { note: 'héllo' },
        ownerReferences: [{ kind: 'Deployment', name: 'web', uid: 'uid-1', apiVersion: 'apps/v1', controller: true, blockOwnerDeletion: false }],
        finalizers: ['example.com/a', 'example.com/b'],
        managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2023-11-14T22:13:20Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }],
      },
      data: { a: '1' },
      binaryData: { bin: Buffer.from([0xff, 0x00, 0xfe]).toString('base64') },
      immutable: false,
    });
  });

  it('decodes secrets, service ports with int and string target ports, negative int32 and inline structs', () => {
    const secret = decodeKubeProtobuf(envelope('v1', 'Secret', [...ld(1, s(1, 'tls')), ...entry(2, 'tls.key', [0x80, 0x81]), ...s(3, 'kubernetes.io/tls'), ...strEntry(4, 'plain', 'text')]));
    assert.deepEqual(secret, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls' }, data: { 'tls.key': 'gIE=' }, type: 'kubernetes.io/tls', stringData: { plain: 'text' } });

    const ports = [ld(1, [...s(1, 'http'), ...s(2, 'TCP'), ...vi(3, 80), ...ld(4, [...vi(1, 0), ...vi(2, 8080)])]), ld(1, [...s(2, 'UDP'), ...vi(3, 53), ...ld(4, [...vi(1, 1), ...s(3, 'dns')])])].flat();
    const svc = decodeKubeProtobuf(envelope('v1', 'Service', [...ld(1, s(1, 'web')), ...ld(2, [...ports, ...strEntry(2, 'app', 'web'), ...s(4, 'NodePort'), ...vi(12, -1)]), ...ld(3, ld(1, []))]));
    assert.deepEqual(svc['spec'], { ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }, { protocol: 'UDP', port: 53, targetPort: 'dns' }], selector: { app: 'web' }, type: 'NodePort', healthCheckNodePort: -1 });
    assert.deepEqual(svc['status'], { loadBalancer: {} });

    const keyRef = ld(4, [...ld(1, s(1, 'creds')), ...s(2, 'password')]);
    const container = [...s(1, 'app'), ...s(2, 'img:1'), ...s(3, 'run'), ...ld(7, [...s(1, 'PW'), ...ld(3, keyRef)]), ...ld(8, entry(1, 'cpu', s(1, '500m')))];
    const template = ld(3, [...ld(1, strEntry(11, 'app', 'web')), ...ld(2, [...ld(2, container), ...vi(4, 0)])]);
    const deploy = decodeKubeProtobuf(envelope('apps/v1', 'Deployment', [...ld(1, s(1, 'web')), ...ld(2, [...vi(1, 0), ...ld(2, strEntry(1, 'app', 'web')), ...template, ...ld(4, [...s(1, 'RollingUpdate'), ...ld(2, ld(2, [...vi(1, 1), ...s(3, '25%')]))])])]));
    assert.deepEqual(deploy['spec'], {
      replicas: 0,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'img:1', command: ['run'], env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } }], resources: { limits: { cpu: '500m' } } }], terminationGracePeriodSeconds: 0 },
      },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%' } },
    });
  });

  const malformed: [string, Buffer, RegExp][] = [
    ['bad magic', Buffer.from('{"kind":"Namespace"}'), /does not start with the Kubernetes protobuf magic bytes/],
    ['an empty body', Buffer.alloc(0), /does not start with the Kubernetes protobuf magic bytes/],
    ['a truncated varint in the envelope', Buffer.from([...magic, 0x0a, 0x80]), /truncated varint at byte 5/],
    ['a truncated varint inside the object', envelope('v1', 'Namespace', [...ld(1, [0x38, 0xff, 0xff])]), /metadata: truncated varint at byte/],
    ['a varint longer than 10 bytes', envelope('v1', 'Namespace', [...ld(1, [0x38, ...Array<number>(10).fill(0xff), 0x01])]), /metadata: varint at byte \d+ is longer than 10 bytes/],
    ['a wrong wire type', envelope('v1', 'Namespace', [...ld(1, vi(1, 7))]), /metadata: field 1 \(name\) of ObjectMeta has wire type 0 \(varint\), expected 2 \(length-delimited\)/],
    ['a length past the end', envelope('v1', 'ConfigMap', [...tag(2, 2), 0x7f, 0x01]), /field 2 \(data\) of ConfigMap declares 127 bytes but only 1 remain/],
    ['invalid UTF-8 in a string', envelope('v1', 'Namespace', [...ld(1, ld(1, [0xc3, 0x28]))]), /metadata: field 1 \(name\) of ObjectMeta is not valid UTF-8/],
    ['a group wire type', Buffer.from([...magic, ...tag(9, 3)]), /field 9 of Unknown has unsupported wire type 3 \(start-group\)/],
    ['field number 0', envelope('v1', 'Namespace', [0x02, 0x00]), /invalid field number 0/],
    ['no kind in the envelope', Buffer.from([...magic, ...ld(1, s(1, 'v1')), ...ld(2, [])]), /the envelope names no kind/],
    ['no object in the envelope', Buffer.from([...magic, ...ld(1, [...s(1, 'v1'), ...s(2, 'Namespace')])]), /the envelope of Namespace carries no object/],
    ['an IntOrString of type 2', envelope('v1', 'Service', [...ld(2, ld(1, ld(4, vi(1, 2))))]), /spec\.ports\[0\]\.targetPort: IntOrString type 2 is neither 0 \(int\) nor 1 \(string\)/],
  ];
  for (const [what, body, message] of malformed) {
    it(`answers 400 to ${what}`, () => {
      const err = decodeError(body);
      assert.equal(err.code, 400);
      assert.equal(err.reason, 'BadRequest');
      assert.match(err.message, /^the protobuf body is malformed: /);
      assert.match(err.message, message);
    });
  }

  it('answers 415 naming the kind, or the field, it does not decode, and the accepted media types', () => {
    const pod = decodeError(envelope('v1', 'Pod', ld(1, s(1, 'p'))));
    assert.equal(pod.code, 415);
    assert.equal(pod.reason, 'UnsupportedMediaType');
    assert.match(pod.message, /^protobuf bodies of kind Pod \(v1\) are not decoded by this server; accepted media types include: application\/json, application\/yaml, application\/vnd\.kubernetes\.protobuf \(kinds Namespace \(v1\), ConfigMap \(v1\), Secret \(v1\), ServiceAccount \(v1\), Service \(v1\), Deployment \(apps\/v1\)\)$/);
    const volume = decodeError(envelope('apps/v1', 'Deployment', ld(2, ld(3, ld(2, ld(1, s(1, 'v')))))));
    assert.equal(volume.code, 415);
    assert.match(volume.message, /^field 1 of PodSpec at spec\.template\.spec is not decoded from protobuf by this server; accepted media types include: application\/json, application\/yaml/);
    const gzip = decodeError(Buffer.from([...magic, ...ld(1, [...s(1, 'v1'), ...s(2, 'Namespace')]), ...ld(2, []), ...s(3, 'gzip')]));
    assert.equal(gzip.code, 415);
    assert.match(gzip.message, /contentEncoding "gzip" is not supported/);
  });
});

describeOnServers('apiserver: protobuf over HTTP', function (kind) {
  this.timeout(30_000);
  let h: Harness;
  const post = async (path: string, body: Buffer): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await kubeRequest(h.kc, 'POST', path, body, { 'Content-Type': 'application/vnd.kubernetes.protobuf', Accept: 'application/json' });
    return { status: res.status, json: res.body };
  };

  before(async () => {
    h = await startHarness(kind);
  });
  after(async () => {
    await h.server.stop();
  });

  it('creates from a protobuf body and answers in JSON', async () => {
    const res = await post('/api/v1/namespaces/default/configmaps', envelope('v1', 'ConfigMap', [...ld(1, [...s(1, 'pb'), ...strEntry(11, 'via', 'protobuf')]), ...strEntry(2, 'k', 'v')]));
    assert.equal(res.status, 201);
    const cm = await h.core.readNamespacedConfigMap({ name: 'pb', namespace: 'default' });
    assert.deepEqual(cm.data, { k: 'v' });
    assert.deepEqual(cm.metadata?.labels, { via: 'protobuf' });
  });

  it('answers a malformed body with a 400 Status and keeps serving', async () => {
    const res = await post('/api/v1/namespaces', Buffer.from([...magic, 0x0a, 0x80]));
    assert.equal(res.status, 400);
    assert.equal(res.json['kind'], 'Status');
    assert.equal(res.json['reason'], 'BadRequest');
    // The embedded server names the wire-format fault; kube-apiserver says "unexpected EOF".
    assert.match(String(res.json['message']), /truncated varint|unexpected EOF/);
    const list = await h.core.listNamespace();
    assert.ok(list.items.some((n) => n.metadata?.name === 'default'));
  });

  it('answers 415 to a kind it does not decode', async () => {
    const res = await post('/api/v1/namespaces/default/pods', envelope('v1', 'Pod', ld(1, s(1, 'p'))));
    assert.equal(res.status, 415);
    assert.match(String(res.json['message']), /protobuf bodies of kind Pod \(v1\) are not decoded/);
  });
});

// A self-signed P-256 certificate and its key, only for `kubectl create secret tls`, which checks the pair.
const tlsCert = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUMlmDnSK7GtRDcpZmFBa1Eh0m8IkwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMcGVyc2V1cy50ZXN0MCAXDTI2MTIwMjAyNTAwN1oYDzIxMjYx
MTA4MDI1MDA3WjAXMRUwEwYDVQQDDAxwZXJzZXVzLnRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAS2ujkXkjJK4HzLAuw/YjtluUB00a33ppFu1tLwnzOe2ES3
Tl0/96v+RiyYkhAs/3ZKUamLIsD21Y9ySO9/4zN9o1MwUTAdBgNVHQ4EFgQUro4r
gnzyYXNCeVXMTF+9w3Otn78wHwYDVR0jBBgwFoAUro4rgnzyYXNCeVXMTF+9w3Ot
n78wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAhN5dqAQtTy4i
jQykXlu/ooflcbp+c2pQzAN+R5qojE4CIEODhRHVyPe3S+cZ+PdehW8k2kWS052Y
V3xcWU0vsh/H
-----END CERTIFICATE-----
`;
const tlsKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgK1IvzycTzzLuYlHa
gaKOyDQ5z5yuaoVJR1XaexRTam+hRANCAAS2ujkXkjJK4HzLAuw/YjtluUB00a33
ppFu1tLwnzOe2ES3Tl0/96v+RiyYkhAs/3ZKUamLIsD21Y9ySO9/4zN9
-----END PRIVATE KEY-----
`;

interface Obj {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

describeOnServers('apiserver: kubectl create generators (protobuf bodies)', function (kind) {
  this.timeout(120_000);
  let h: Harness;
  // The real server keeps what a suite leaves in default and reuses no namespace name at once: fresh names there.
  const suffix = kind === 'embedded' ? '' : `-${uniqueSuffix()}`;
  const team = `team-a${suffix}`;
  const work = kind === 'embedded' ? 'default' : `pb${suffix}`;
  let dir: string;
  let kubectl: string;

  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(kubectl, ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      });
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await run(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const getJson = async (...args: string[]): Promise<Obj> => JSON.parse(await ok(['get', ...args, '-o', 'json'])) as Obj;

  before(async () => {
    kubectl = await kubectlPath();
    h = await startHarness(kind);
    if (kind !== 'embedded') await createNamespace(h, work);
    dir = await mkdtemp(join(tmpdir(), 'perseus-kubectl-pb-'));
    await writeFile(join(dir, 'kubeconfig'), h.server.kubeconfigYaml());
  });
  after(async () => {
    await h.server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a namespace, and labels it', async () => {
    assert.equal((await ok(['create', 'namespace', team])).trim(), `namespace/${team} created`);
    await ok(['label', 'namespace', team, 'owner=ml']);
    const ns = await getJson('namespace', team);
    assert.deepEqual(ns.metadata.labels, { 'kubernetes.io/metadata.name': team, owner: 'ml' });
    assert.deepEqual(ns['status'], { phase: 'Active' });
  });

  it('creates a configmap with data and binaryData', async () => {
    await writeFile(join(dir, 'blob.bin'), Buffer.from([0xff, 0xfe, 0x00, 0x01]));
    await writeFile(join(dir, 'conf.txt'), 'x = 1\n');
    assert.equal((await ok(['create', 'configmap', 'settings', '-n', team, '--from-literal=mode=fast', `--from-file=${join(dir, 'conf.txt')}`, `--from-file=${join(dir, 'blob.bin')}`])).trim(), 'configmap/settings created');
    await ok(['label', 'configmap', 'settings', '-n', team, 'app=trainer']);
    const cm = await getJson('configmap', 'settings', '-n', team);
    assert.deepEqual(cm['data'], { mode: 'fast', 'conf.txt': 'x = 1\n' });
    assert.deepEqual(cm['binaryData'], { 'blob.bin': Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64') });
    assert.deepEqual(cm.metadata.labels, { app: 'trainer' });
  });

  it('creates generic, tls and docker-registry secrets', async () => {
    await ok(['create', 'secret', 'generic', 'creds', '-n', work, '--from-literal=user=alice', '--from-literal=password=s3cret', '--type=example.com/basic']);
    const generic = await getJson('secret', 'creds', '-n', work);
    assert.equal(generic['type'], 'example.com/basic');
    assert.deepEqual(generic['data'], { user: Buffer.from('alice').toString('base64'), password: Buffer.from('s3cret').toString('base64') });

    await writeFile(join(dir, 'tls.crt'), tlsCert);
    await writeFile(join(dir, 'tls.key'), tlsKey);
    await ok(['create', 'secret', 'tls', 'web-tls', '-n', work, `--cert=${join(dir, 'tls.crt')}`, `--key=${join(dir, 'tls.key')}`]);
    const tls = await getJson('secret', 'web-tls', '-n', work);
    assert.equal(tls['type'], 'kubernetes.io/tls');
    assert.deepEqual(tls['data'], { 'tls.crt': Buffer.from(tlsCert).toString('base64'), 'tls.key': Buffer.from(tlsKey).toString('base64') });

    await ok(['create', 'secret', 'docker-registry', 'pull', '-n', work, '--docker-server=registry.example.com', '--docker-username=bob', '--docker-password=pw']);
    const pull = await getJson('secret', 'pull', '-n', work);
    assert.equal(pull['type'], 'kubernetes.io/dockerconfigjson');
    const config = JSON.parse(Buffer.from((pull['data'] as Record<string, string>)['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as { auths: Record<string, { username: string; password: string; auth: string }> };
    assert.deepEqual(config.auths['registry.example.com'], { username: 'bob', password: 'pw', auth: Buffer.from('bob:pw').toString('base64') });
  });

  it('creates a service account', async () => {
    assert.equal((await ok(['create', 'serviceaccount', 'trainer', '-n', team])).trim(), 'serviceaccount/trainer created');
    const sa = await getJson('serviceaccount', 'trainer', '-n', team);
    assert.equal(sa.metadata.namespace, team);
  });

  it('creates a deployment and services', async () => {
    await ok(['create', 'deployment', 'web', '-n', work, '--image=nginx:1.27', '--replicas=2', '--port=8080', '--', 'nginx', '-g', 'daemon off;']);
    const dep = await getJson('deployment', 'web', '-n', work);
    const spec = dep['spec'] as { replicas: number; selector: unknown; template: { spec: { containers: { name: string; image: string; command: string[]; ports: unknown[] }[] } } };
    assert.equal(spec.replicas, 2);
    assert.deepEqual(spec.selector, { matchLabels: { app: 'web' } });
    const [container] = spec.template.spec.containers;
    assert.deepEqual({ name: container?.name, image: container?.image, command: container?.command, ports: container?.ports }, { name: 'nginx', image: 'nginx:1.27', command: ['nginx', '-g', 'daemon off;'], ports: [{ containerPort: 8080, protocol: 'TCP' }] });

    await ok(['create', 'service', 'clusterip', 'web', '-n', work, '--tcp=80:8080']);
    const svc = await getJson('service', 'web', '-n', work);
    assert.deepEqual((svc['spec'] as { ports: unknown }).ports, [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }]);
    assert.deepEqual((svc['spec'] as { selector: unknown }).selector, { app: 'web' });

    await ok(['create', 'service', 'externalname', 'docs', '-n', work, '--external-name=docs.example.com']);
    const ext = await getJson('service', 'docs', '-n', work);
    assert.equal((ext['spec'] as { type: string }).type, 'ExternalName');
    assert.equal((ext['spec'] as { externalName: string }).externalName, 'docs.example.com');
  });

  it('runs a server-side dry run without storing the object', async () => {
    const out = load(await ok(['create', 'namespace', 'dry', '--dry-run=server', '-o', 'yaml'])) as Obj;
    assert.equal(out.metadata.name, 'dry');
    assert.deepEqual(out['status'], { phase: 'Active' });
    const missing = await run(['get', 'namespace', 'dry']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /namespaces "dry" not found/);
  });

  it('answers AlreadyExists to a generator whose object exists', async () => {
    const dup = await run(['create', 'configmap', 'settings', '-n', team, '--from-literal=a=b']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /configmaps "settings" already exists/);
  });
});
