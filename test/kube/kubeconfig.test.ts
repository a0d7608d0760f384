// The KubeConnection loader without the client library: kubeconfig clusters and users of every supported
// kind (certificate data and relative files, token, tokenFile, basic auth, exec plugins, skip-verify,
// tls-server-name), in-cluster from an injected environment and directory, the lookup order, and the
// messages for bad input, each naming its field. Requests go to a local HTTPS server that records them.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import yaml from 'js-yaml';
import { execCredentials, tokenFileCredentials } from '../../src/kube/credentials.ts';
import { connectionForUrl, connectionFromFile, connectionFromYaml, inClusterConnection, loadConnection, type KubeConnection } from '../../src/kube/kubeconfig.ts';
import { HttpStatusError, rawRequest, streamRequest } from '../../src/kube/raw-request.ts';
import { generateSelfSignedCertificate } from '../../src/kube/self-signed-cert.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

interface Seen {
  readonly authorization: string | undefined;
  /** SHA-256 fingerprint of the client certificate, when one was presented. */
  readonly clientCert: string | undefined;
}

/** A kubeconfig with one context "c" of cluster "k" and user "u". */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'k', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u', namespace: 'ml' } }],
    'current-context': 'c',
    ...extra,
  });
}

describe('KubeConnection (kubeconfig.ts)', function () {
  let dir: string;
  let server: https.Server;
  let url: string;
  const serving = generateSelfSignedCertificate({ commonName: 'kube.test', altNames: ['kube.test'] });
  const client = generateSelfSignedCertificate({ commonName: 'alice', altNames: ['alice'] });
  const seen: Seen[] = [];
  /** Authorization headers the server answers 401 to (a revoked or expired token). */
  const revoked = new Set<string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'perseus-kubeconfig-'));
    // Asks for a client certificate without verifying it: the test compares fingerprints instead.
    server = https.createServer({ cert: serving.cert, key: serving.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({ authorization: req.headers.authorization, clientCert: peer.raw === undefined ? undefined : new X509Certificate(peer.raw).fingerprint256 });
      res.setHeader('Content-Type', 'application/json');
      if (revoked.has(req.headers.authorization ?? '')) {
        res.statusCode = 401;
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
        return;
      }
      res.end(JSON.stringify({ kind: 'APIVersions', path: req.url }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen.length = 0;
    revoked.clear();
  });

  async function call(conn: KubeConnection): Promise<Seen> {
    const answer = (await rawRequest(conn, { method: 'GET', path: '/api' })) as { path?: string };
    assert.equal(answer.path, '/api');
    const last = seen.at(-1);
    assert.ok(last !== undefined, 'the server saw the request');
    return last;
  }

  it('verifies the server with certificate-authority-data and tls-server-name, and presents client-certificate-data/-key-data', async () => {
    const conn = connectionFromYaml(kubeconfig({ server: url, 'certificate-authority-data': b64(serving.cert), 'tls-server-name': 'kube.test' }, { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) }));
    assert.equal(conn.namespace, 'ml');
    const s = await call(conn);
    assert.equal(s.clientCert, fingerprint(client.cert));
    assert.equal(s.authorization, undefined);
  });

  it('reads certificate-authority, client-certificate and client-key files relative to the kubeconfig file', async () => {
    const sub = join(dir, 'relative');
    mkdirSync(join(sub, 'pki'), { recursive: true });
    writeFileSync(join(sub, 'pki', 'ca.crt'), serving.cert);
    writeFileSync(join(sub, 'pki', 'alice.crt'), client.cert);
    writeFileSync(join(sub, 'pki', 'alice.key'), client.key);
    writeFileSync(join(sub, 'config'), kubeconfig({ server: url, 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'kube.test' }, { 'client-certificate': 'pki/alice.crt', 'client-key': 'pki/alice.key' }));
    const s = await call(connectionFromFile(join(sub, 'config')));
    assert.equal(s.clientCert, fingerprint(client.cert));
  });

  it('refuses a server its CA does not vouch for, unless insecure-skip-tls-verify', async () => {
    await assert.rejects(rawRequest(connectionFromYaml(kubeconfig({ server: url }, { token: 't' })), { method: 'GET', path: '/api' }), /self[- ]signed|unable to verify/i);
    // The certificate names kube.test, not 127.0.0.1: without tls-server-name the name check fails.
    await assert.rejects(rawRequest(connectionFromYaml(kubeconfig({ server: url, 'certificate-authority-data': b64(serving.cert) }, {})), { method: 'GET', path: '/api' }), /altnames|Hostname\/IP does not match/i);
    const s = await call(connectionFromYaml(kubeconfig({ server: url, 'insecure-skip-tls-verify': true }, { token: 't' })));
    assert.equal(s.authorization, 'Bearer t');
  });

  it('sends token, tokenFile (relative) and username/password as the Authorization header', async () => {
    const skip = { server: url, 'insecure-skip-tls-verify': true };
    assert.equal((await call(connectionFromYaml(kubeconfig(skip, { token: 'abc' })))).authorization, 'Bearer abc');
    writeFileSync(join(dir, 'token-file'), 'from-file\n');
    writeFileSync(join(dir, 'token-config'), kubeconfig(skip, { tokenFile: 'token-file' }));
    assert.equal((await call(connectionFromFile(join(dir, 'token-config')))).authorization, 'Bearer from-file');
    assert.equal((await call(connectionFromYaml(kubeconfig(skip, { username: 'admin', password: 's3cret' })))).authorization, `Basic ${b64('admin:s3cret')}`);
  });

  it('re-reads a token file at most once a minute (bound tokens rotate)', async () => {
    const file = join(dir, 'rotating');
    writeFileSync(file, 'one');
    let nowMs = 1_000_000;
    const creds = tokenFileCredentials(file, () => nowMs);
    assert.equal((await creds()).authorization, 'Bearer one');
    writeFileSync(file, 'two');
    nowMs += 59_000;
    assert.equal((await creds()).authorization, 'Bearer one');
    nowMs += 1_000;
    assert.equal((await creds()).authorization, 'Bearer two');
  });

  it('reads a token file again at once after the server answered 401 to its token', async () => {
    const file = join(dir, 'revoked-token');
    writeFileSync(file, 'old');
    writeFileSync(join(dir, 'revoked-config'), kubeconfig({ server: url, 'insecure-skip-tls-verify': true }, { tokenFile: 'revoked-token' }));
    const conn = connectionFromFile(join(dir, 'revoked-config'));
    assert.equal((await call(conn)).authorization, 'Bearer old');
    writeFileSync(file, 'new');
    revoked.add('Bearer old');
    await assert.rejects(rawRequest(conn, { method: 'GET', path: '/api' }), (err: unknown) => err instanceof HttpStatusError && err.code === 401);
    assert.equal((await call(conn)).authorization, 'Bearer new', 'read again within the minute');
  });

  describe('exec plugins', () => {
    /** A plugin that counts its runs and answers token "<arg>-<run>" with the expiry from its env. */
    function plugin(): string {
      const file = join(dir, 'bin', 'credential-plugin.sh');
      mkdirSync(join(dir, 'bin'), { recursive: true });
      writeFileSync(
        file,
        [
          '#!/bin/sh',
          'n=$(( $(cat "$STATE/count" 2>/dev/null || echo 0) + 1 ))',
          'echo $n > "$STATE/count"',
          'printf "%s" "$KUBERNETES_EXEC_INFO" > "$STATE/info.json"',
          'printf \'{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s-%s","expirationTimestamp":"%s"}}\' "$API" "$1" "$n" "$EXPIRY"',
          '',
        ].join('\n'),
      );
      chmodSync(file, 0o755);
      return file;
    }

    for (const apiVersion of ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']) {
      it(`${apiVersion}: runs the command (relative to the kubeconfig) with args and env, sends its token, caches it until it expires`, async () => {
        plugin();
        const state = mkdtempSync(join(dir, 'state-'));
        const exec = { apiVersion, command: './bin/credential-plugin.sh', args: ['tok'], env: [{ name: 'STATE', value: state }, { name: 'API', value: apiVersion }, { name: 'EXPIRY', value: '2999-01-01T00:00:00Z' }], provideClusterInfo: true, interactiveMode: 'Never' };
        writeFileSync(join(dir, 'exec-config'), kubeconfig({ server: url, 'insecure-skip-tls-verify': true }, { exec }));
        const conn = connectionFromFile(join(dir, 'exec-config'));
        assert.equal((await call(conn)).authorization, 'Bearer tok-1');
        await Promise.all([call(conn), call(conn)]);
        assert.equal(seen.at(-1)?.authorization, 'Bearer tok-1');
        assert.equal(readFileSync(join(state, 'count'), 'utf8').trim(), '1', 'one run while the credential is valid');
        const info = JSON.parse(readFileSync(join(state, 'info.json'), 'utf8')) as { apiVersion: string; kind: string; spec: { interactive: boolean; cluster?: { server: string } } };
        assert.deepEqual(info, { apiVersion, kind: 'ExecCredential', spec: { interactive: false, cluster: { server: url, 'insecure-skip-tls-verify': true } } });
      });
    }

    it('runs the plugin again once the credential has expired', async () => {
      const command = plugin();
      const state = mkdtempSync(join(dir, 'state-'));
      let nowMs = Date.parse('2030-01-01T00:00:00Z');
      const apiVersion = 'client.authentication.k8s.io/v1';
      const creds = execCredentials({ apiVersion, command, args: ['t'], env: { STATE: state, API: apiVersion, EXPIRY: '2030-01-01T00:05:00Z' }, provideClusterInfo: false, describe: 'test' }, {}, () => nowMs);
      assert.equal((await creds()).authorization, 'Bearer t-1');
      nowMs += 299_000;
      assert.equal((await creds()).authorization, 'Bearer t-1');
      nowMs += 1_000;
      assert.equal((await creds()).authorization, 'Bearer t-2');
      assert.deepEqual(JSON.parse(readFileSync(join(state, 'info.json'), 'utf8')), { apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
    });

    it('runs the plugin again after the server answered 401 to its unexpired credential (requests and watches)', async () => {
      plugin();
      const state = mkdtempSync(join(dir, 'state-'));
      const apiVersion = 'client.authentication.k8s.io/v1';
      const exec = { apiVersion, command: './bin/credential-plugin.sh', args: ['tok'], env: [{ name: 'STATE', value: state }, { name: 'API', value: apiVersion }, { name: 'EXPIRY', value: '2999-01-01T00:00:00Z' }], interactiveMode: 'Never' };
      writeFileSync(join(dir, 'exec-401'), kubeconfig({ server: url, 'insecure-skip-tls-verify': true }, { exec }));
      const conn = connectionFromFile(join(dir, 'exec-401'));
      assert.equal((await call(conn)).authorization, 'Bearer tok-1');
      revoked.add('Bearer tok-1');
      await assert.rejects(rawRequest(conn, { method: 'GET', path: '/api' }), (err: unknown) => err instanceof HttpStatusError && err.code === 401);
      assert.equal((await call(conn)).authorization, 'Bearer tok-2', 'the plugin ran again after the 401');
      assert.equal((await call(conn)).authorization, 'Bearer tok-2', 'and its new credential is cached');
      revoked.add('Bearer tok-2');
      const done = await new Promise<Error | null>((resolve) => void streamRequest(conn, { path: '/api', query: { watch: true } }, { onLine: () => undefined, done: resolve }));
      assert.ok(done instanceof HttpStatusError && done.code === 401, String(done));
      assert.equal((await call(conn)).authorization, 'Bearer tok-3', 'a watch refused with 401 refreshes it too');
      assert.equal(readFileSync(join(state, 'count'), 'utf8').trim(), '3');
    });

    it('a 401 does not drop a newer credential than the one refused', async () => {
      const command = plugin();
      const state = mkdtempSync(join(dir, 'state-'));
      const apiVersion = 'client.authentication.k8s.io/v1';
      const creds = execCredentials({ apiVersion, command, args: ['t'], env: { STATE: state, API: apiVersion, EXPIRY: '2999-01-01T00:00:00Z' }, provideClusterInfo: false, describe: 'test' }, {});
      const first = await creds();
      creds.invalidate?.(first);
      const second = await creds();
      assert.equal(second.authorization, 'Bearer t-2');
      creds.invalidate?.(first);
      assert.equal((await creds()).authorization, 'Bearer t-2', 'a late 401 to t-1 keeps t-2');
    });

    it('uses a client certificate from the plugin, and names the plugin when it fails or answers nonsense', async () => {
      const file = join(dir, 'bin', 'cert-plugin.sh');
      const cred = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { clientCertificateData: client.cert, clientKeyData: client.key } });
      writeFileSync(file, `#!/bin/sh\ncat <<'EOF'\n${cred}\nEOF\n`);
      chmodSync(file, 0o755);
      const exec = (command: string): Record<string, unknown> => ({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command, interactiveMode: 'Never' } });
      const cluster = { server: url, 'certificate-authority-data': b64(serving.cert), 'tls-server-name': 'kube.test' };
      assert.equal((await call(connectionFromYaml(kubeconfig(cluster, exec(file))))).clientCert, fingerprint(client.cert));
      await assert.rejects(call(connectionFromYaml(kubeconfig(cluster, exec('/bin/false')))), /users\[u\]\.user\.exec \(\/bin\/false\): the credential plugin failed/);
      await assert.rejects(call(connectionFromYaml(kubeconfig(cluster, exec('/bin/echo')))), /users\[u\]\.user\.exec \(\/bin\/echo\): the credential plugin's output: expected an ExecCredential/);
    });
  });

  it('in-cluster: KUBERNETES_SERVICE_HOST/PORT, the service account CA, token and namespace', async () => {
    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'sa-token\n');
    writeFileSync(join(sa, 'ca.crt'), serving.cert);
    writeFileSync(join(sa, 'namespace'), 'perseus-system');
    const port = String((server.address() as AddressInfo).port);
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port, KUBECONFIG: join(dir, 'missing') };
    const conn = loadConnection(undefined, { env, serviceAccountDir: sa });
    assert.equal(conn.source, 'in-cluster');
    assert.equal(conn.server, `https://127.0.0.1:${port}`);
    assert.equal(conn.namespace, 'perseus-system');
    assert.deepEqual(conn.tls.ca, Buffer.from(serving.cert));
    // The serving certificate names kube.test, so only the header is checked here.
    const options: https.RequestOptions = {};
    await conn.applyTo(options);
    assert.deepEqual(options.headers, { Authorization: 'Bearer sa-token' });
    assert.equal(inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa).server, 'https://[fd00::1]:443');
    assert.throws(() => inClusterConnection({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, sa), /KUBERNETES_SERVICE_PORT/);
  });

  it('looks in --kubeconfig, then in-cluster, then the first KUBECONFIG file with a current-context, then ~/.kube/config', () => {
    const write = (name: string, server: string, current = true): string => {
      const file = join(dir, name);
      writeFileSync(file, kubeconfig({ server }, {}, current ? {} : { 'current-context': '' }));
      return file;
    };
    const explicit = write('explicit', 'https://explicit:6443');
    const noContext = write('no-context', 'https://no-context:6443', false);
    const second = write('second', 'https://second:6443');
    mkdirSync(join(dir, 'home', '.kube'), { recursive: true });
    writeFileSync(join(dir, 'home', '.kube', 'config'), kubeconfig({ server: 'https://home:6443' }, {}));
    const none = join(dir, 'no-service-account');
    const env = { KUBECONFIG: [join(dir, 'absent'), noContext, second].join(':') };
    assert.equal(loadConnection(explicit, { env, serviceAccountDir: none }).server, 'https://explicit:6443');
    assert.equal(loadConnection(undefined, { env, serviceAccountDir: none }).server, 'https://second:6443');
    assert.equal(loadConnection(undefined, { env: {}, serviceAccountDir: none, homeDir: join(dir, 'home') }).server, 'https://home:6443');
    assert.throws(() => loadConnection(undefined, { env: { KUBECONFIG: noContext }, serviceAccountDir: none }), /KUBECONFIG: expected a file with a current-context/);
    assert.throws(() => loadConnection(undefined, { env: {}, serviceAccountDir: none, homeDir: join(dir, 'nobody') }), /pass --kubeconfig, set KUBECONFIG/);
  });

  it('connectionForUrl: a plain server without credentials', async () => {
    const conn = connectionForUrl('http://127.0.0.1:8080/');
    assert.equal(conn.server, 'http://127.0.0.1:8080');
    const options: https.RequestOptions = {};
    await conn.applyTo(options);
    assert.equal(options.headers, undefined);
  });

  describe('bad input names the field and the expected form', () => {
    const good = { server: 'https://k:6443' };
    const cases: [string, () => unknown, RegExp][] = [
      ['malformed YAML', () => connectionFromYaml('clusters: [unclosed'), /not valid YAML/],
      ['not a mapping', () => connectionFromYaml('- a\n- b\n'), /\(document\): expected a mapping with clusters, users, contexts and current-context/],
      ['no current-context', () => connectionFromYaml(kubeconfig(good, {}, { 'current-context': undefined })), /current-context: expected the name of an entry of contexts/],
      ['unknown current-context', () => connectionFromYaml(kubeconfig(good, {}, { 'current-context': 'nope' })), /current-context: expected the name of an entry of contexts \(none is named "nope"\)/],
      ['unknown cluster', () => connectionFromYaml(kubeconfig(good, {}).replace('cluster: k', 'cluster: other')), /contexts\[c\]\.context\.cluster: expected the name of an entry of clusters \(none is named "other"\)/],
      ['unknown user', () => connectionFromYaml(kubeconfig(good, {}).replace('user: u', 'user: bob')), /contexts\[c\]\.context\.user: expected the name of an entry of users \(none is named "bob"\)/],
      ['no server', () => connectionFromYaml(kubeconfig({}, {})), /clusters\[k\]\.cluster\.server: expected the API server URL/],
      ['server not a URL', () => connectionFromYaml(kubeconfig({ server: 'k:6443' }, {})), /clusters\[k\]\.cluster\.server: expected an http or https URL/],
      ['proxy-url', () => connectionFromYaml(kubeconfig({ ...good, 'proxy-url': 'http://proxy:3128' }, {})), /clusters\[k\]\.cluster\.proxy-url: expected no proxy/],
      ['skip-verify not a boolean', () => connectionFromYaml(kubeconfig({ ...good, 'insecure-skip-tls-verify': 'yes' }, {})), /clusters\[k\]\.cluster\.insecure-skip-tls-verify: expected true or false/],
      ['unreadable CA file', () => connectionFromYaml(kubeconfig({ ...good, 'certificate-authority': '/nonexistent/ca.crt' }, {})), /clusters\[k\]\.cluster\.certificate-authority: cannot read \/nonexistent\/ca\.crt/],
      ['certificate without key', () => connectionFromYaml(kubeconfig(good, { 'client-certificate-data': b64(client.cert) })), /users\[u\]\.user\.client-key: expected both client-certificate and client-key/],
      ['token not a string', () => connectionFromYaml(kubeconfig(good, { token: 42 })), /users\[u\]\.user\.token: expected a string/],
      ['exec apiVersion', () => connectionFromYaml(kubeconfig(good, { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' } })), /users\[u\]\.user\.exec\.apiVersion: expected one of client\.authentication\.k8s\.io\/v1, client\.authentication\.k8s\.io\/v1beta1/],
      ['exec without command', () => connectionFromYaml(kubeconfig(good, { exec: { apiVersion: 'client.authentication.k8s.io/v1' } })), /users\[u\]\.user\.exec\.command: expected the plugin executable/],
      ['exec interactive', () => connectionFromYaml(kubeconfig(good, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'x', interactiveMode: 'Always' } })), /users\[u\]\.user\.exec\.interactiveMode: expected Never or IfAvailable/],
      ['unreadable file', () => connectionFromFile(join(tmpdir(), 'no-such-kubeconfig')), /cannot load kubeconfig .*no-such-kubeconfig: ENOENT/],
    ];
    for (const [what, load, message] of cases) it(what, () => assert.throws(load, message));
  });

  it('a legacy auth-provider user gets its header from the client library, loaded only then', async () => {
    // An unexpired OIDC id-token is sent as it is (the library refreshes only an expired one).
    const jwt = [b64('{"alg":"none"}'), b64(JSON.stringify({ exp: 4_000_000_000 })), ''].join('.').replace(/=/g, '');
    const authProvider = { name: 'oidc', config: { 'client-id': 'perseus', 'id-token': jwt, 'idp-issuer-url': 'https://issuer.invalid' } };
    const s = await call(connectionFromYaml(kubeconfig({ server: url, 'insecure-skip-tls-verify': true }, { 'auth-provider': authProvider })));
    assert.equal(s.authorization, `Bearer ${jwt}`);
  });
});
