// The metrics endpoint's parts without an API server: the self-signed certificate (parsed by node and, when
// installed, verified by openssl), the authorizer's decisions and their caching, and the HTTPS server with a
// mounted certificate that is re-read when it is renewed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { MetricsAuthorizer, type AccessReviewer, type ReviewedUser } from '../../src/kube/metrics-auth.ts';
import { loadServingCertificate, serveMetrics } from '../../src/kube/metrics-server.ts';
import { generateSelfSignedCertificate } from '../../src/kube/self-signed-cert.ts';

/** A reviewer that knows a few tokens and users, and counts its reviews. */
class FakeReviewer implements AccessReviewer {
  tokenReviews = 0;
  accessReviews = 0;
  failNext = false;
  readonly users = new Map<string, ReviewedUser>([
    ['reader-token', { username: 'system:serviceaccount:monitoring:prometheus', groups: ['system:serviceaccounts'] }],
    ['stranger-token', { username: 'system:serviceaccount:default:stranger' }],
  ]);
  readonly allowed = new Set(['system:serviceaccount:monitoring:prometheus get /metrics']);

  reviewToken(token: string): Promise<ReviewedUser | undefined> {
    this.tokenReviews++;
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('connect ECONNREFUSED'));
    }
    return Promise.resolve(this.users.get(token));
  }

  reviewAccess(user: ReviewedUser, path: string, verb: string): Promise<{ allowed: boolean; reason: string }> {
    this.accessReviews++;
    return Promise.resolve({ allowed: this.allowed.has(`${user.username} ${verb} ${path}`), reason: '' });
  }
}

function get(port: number, path: string, token?: string): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256 }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics endpoint (no API server)', function () {
  describe('self-signed certificate', function () {
    it('is a v3 ECDSA certificate for the given names and addresses, valid now, signed by its own key', function () {
      const now = Date.UTC(2026, 0, 15);
      const pem = generateSelfSignedCertificate({ commonName: 'node-a', altNames: ['node-a', 'localhost', '127.0.0.1', '::1', 'fd00::12:3'], notBeforeMs: now, validDays: 30 });
      const x = new X509Certificate(pem.cert);
      assert.equal(x.subject, 'CN=node-a');
      assert.equal(x.issuer, 'CN=node-a');
      assert.equal(x.subjectAltName, 'DNS:node-a, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:12:3');
      assert.equal(new Date(x.validFrom).getTime(), now);
      assert.equal(new Date(x.validTo).getTime(), now + 3600_000 + 30 * 86400_000);
      assert.ok(x.verify(x.publicKey), 'signed by its own key');
      assert.equal(x.ca, false);
      assert.equal(x.publicKey.asymmetricKeyType, 'ec');
      assert.equal(x.checkHost('node-a'), 'node-a');
      assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(x.checkHost('other'), undefined);
      assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    });

    it('uses GeneralizedTime from 2050 on, and a fresh serial number each time', function () {
      const a = new X509Certificate(generateSelfSignedCertificate({ commonName: 'x', altNames: ['x'], notBeforeMs: Date.UTC(2049, 11, 31), validDays: 2 }).cert);
      assert.equal(new Date(a.validTo).getTime(), Date.UTC(2050, 0, 2, 1));
      const b = new X509Certificate(generateSelfSignedCertificate({ commonName: 'x', altNames: ['x'] }).cert);
      assert.notEqual(a.serialNumber, b.serialNumber);
      assert.throws(() => generateSelfSignedCertificate({ commonName: 'x', altNames: [] }), /altNames: expected at least one/);
    });

    it('openssl accepts it as a self-signed certificate (when openssl is installed)', function () {
      if (spawnSync('sh', ['-c', 'command -v openssl'], { stdio: 'ignore' }).status !== 0) this.skip();
      const dir = mkdtempSync(join(tmpdir(), 'cert-'));
      try {
        writeFileSync(join(dir, 'c.pem'), generateSelfSignedCertificate({ commonName: 'y', altNames: ['y', '10.0.0.1'] }).cert);
        const r = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'c.pem'), join(dir, 'c.pem')], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /: OK/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('MetricsAuthorizer', function () {
    let nowMs = 0;
    let reviewer: FakeReviewer;
    let auth: MetricsAuthorizer;
    beforeEach(function () {
      nowMs = 1_000_000;
      reviewer = new FakeReviewer();
      auth = new MetricsAuthorizer(reviewer, { authenticatedMs: 60_000, unauthenticatedMs: 10_000, allowedMs: 300_000, deniedMs: 30_000 }, () => nowMs, 4);
    });

    it('answers 401 without a bearer token, without asking the API server', async function () {
      for (const header of [undefined, '', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b']) assert.deepEqual(await auth.check(header, 'GET', '/metrics'), { status: 401, message: 'Unauthorized' });
      assert.equal(reviewer.tokenReviews, 0);
    });

    it('401 for an unknown token, 403 for a user without access, 200 for a reader', async function () {
      assert.equal((await auth.check('Bearer bogus', 'GET', '/metrics')).status, 401);
      assert.deepEqual(await auth.check('Bearer stranger-token', 'GET', '/metrics'), { status: 403, message: 'Authorization denied for user system:serviceaccount:default:stranger' });
      assert.deepEqual(await auth.check('Bearer reader-token', 'GET', '/metrics'), { status: 200, user: 'system:serviceaccount:monitoring:prometheus' });
      // The verb is the lower-cased method, as in controller-runtime: POST is another decision.
      assert.equal((await auth.check('bearer reader-token', 'POST', '/metrics')).status, 403);
    });

    it('caches both decisions for their TTL: allowed 5 min, denied 30 s, unknown token 10 s', async function () {
      for (let i = 0; i < 3; i++) await auth.check('Bearer reader-token', 'GET', '/metrics');
      assert.deepEqual([reviewer.tokenReviews, reviewer.accessReviews], [1, 1]);
      nowMs += 61_000; // the token is reviewed again, the access decision is still cached
      await auth.check('Bearer reader-token', 'GET', '/metrics');
      assert.deepEqual([reviewer.tokenReviews, reviewer.accessReviews], [2, 1]);
      nowMs += 240_000;
      await auth.check('Bearer reader-token', 'GET', '/metrics');
      assert.deepEqual([reviewer.tokenReviews, reviewer.accessReviews], [3, 2]);

      await auth.check('Bearer stranger-token', 'GET', '/metrics');
      await auth.check('Bearer stranger-token', 'GET', '/metrics');
      assert.equal(reviewer.accessReviews, 3);
      // The stranger is granted access: the denial is forgotten after 30 s.
      reviewer.allowed.add('system:serviceaccount:default:stranger get /metrics');
      nowMs += 31_000;
      assert.equal((await auth.check('Bearer stranger-token', 'GET', '/metrics')).status, 200);

      const before = reviewer.tokenReviews;
      await auth.check('Bearer bogus', 'GET', '/metrics');
      await auth.check('Bearer bogus', 'GET', '/metrics');
      assert.equal(reviewer.tokenReviews, before + 1);
      nowMs += 11_000;
      await auth.check('Bearer bogus', 'GET', '/metrics');
      assert.equal(reviewer.tokenReviews, before + 2);
    });

    it('shares one review between concurrent requests', async function () {
      const answers = await Promise.all(Array.from({ length: 5 }, () => auth.check('Bearer reader-token', 'GET', '/metrics')));
      assert.ok(answers.every((a) => a.status === 200));
      assert.deepEqual([reviewer.tokenReviews, reviewer.accessReviews], [1, 1]);
    });

    it('answers 500 when the API server cannot be asked, and does not cache the failure', async function () {
      reviewer.failNext = true;
      const failed = await auth.check('Bearer reader-token', 'GET', '/metrics');
      assert.equal(failed.status, 500);
      assert.equal(failed.status === 500 ? failed.message : '', 'Authentication failed');
      assert.equal((await auth.check('Bearer reader-token', 'GET', '/metrics')).status, 200);
      assert.equal(reviewer.tokenReviews, 2);
    });

    it('keeps at most maxEntries tokens: random tokens cannot grow the cache without bound', async function () {
      for (let i = 0; i < 20; i++) await auth.check(`Bearer random-${i}`, 'GET', '/metrics');
      const before = reviewer.tokenReviews;
      await auth.check('Bearer random-0', 'GET', '/metrics'); // evicted long ago: asked again
      assert.equal(reviewer.tokenReviews, before + 1);
      await auth.check('Bearer random-19', 'GET', '/metrics'); // among the last 4: cached
      assert.equal(reviewer.tokenReviews, before + 1);
    });
  });

  describe('serveMetrics', function () {
    const source = { contentType: 'text/plain; version=0.0.4', metrics: () => Promise.resolve('# TYPE perseus_test_total counter\nperseus_test_total 3\n') };

    it('serves HTTPS with the authorizer in front of every path, and re-reads a renewed certificate', async function () {
      const dir = mkdtempSync(join(tmpdir(), 'metrics-tls-'));
      const first = generateSelfSignedCertificate({ commonName: 'first', altNames: ['localhost'] });
      writeFileSync(join(dir, 'tls.crt'), first.cert);
      writeFileSync(join(dir, 'tls.key'), first.key);
      const errors: string[] = [];
      const server = await serveMetrics({ port: 0, host: '127.0.0.1', source, secure: { authorizer: new MetricsAuthorizer(new FakeReviewer()), tls: { certDir: dir } }, certReloadMs: 20, onError: (m) => errors.push(m) });
      try {
        assert.equal(server.secure, true);
        assert.equal(server.certificatePem, first.cert);
        const fingerprint = new X509Certificate(first.cert).fingerprint256;
        const anonymous = await get(server.port, '/metrics');
        assert.deepEqual([anonymous.status, anonymous.fingerprint], [401, fingerprint]);
        assert.equal((await get(server.port, '/other')).status, 401, 'unknown paths are not revealed without a token');
        assert.equal((await get(server.port, '/metrics', 'stranger-token')).status, 403);
        const ok = await get(server.port, '/metrics?x=1', 'reader-token');
        assert.deepEqual([ok.status, ok.body], [200, '# TYPE perseus_test_total counter\nperseus_test_total 3\n']);
        assert.equal((await get(server.port, '/other', 'reader-token')).status, 403, 'the SubjectAccessReview is for the path asked for');

        // A half-written renewal is reported and the old certificate kept; the complete one is then served.
        writeFileSync(join(dir, 'tls.crt'), 'garbage');
        while (errors.length === 0) await new Promise((r) => setTimeout(r, 10));
        assert.equal(errors[0], 'Failed to reload the metrics certificate');
        assert.equal((await get(server.port, '/metrics')).fingerprint, fingerprint);
        const second = generateSelfSignedCertificate({ commonName: 'second', altNames: ['localhost'] });
        writeFileSync(join(dir, 'tls.key'), second.key);
        writeFileSync(join(dir, 'tls.crt'), second.cert);
        while (server.certificatePem !== second.cert) await new Promise((r) => setTimeout(r, 10));
        assert.equal((await get(server.port, '/metrics')).fingerprint, new X509Certificate(second.cert).fingerprint256);
      } finally {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('names the flag when the certificate directory lacks the files or holds no PEM', async function () {
      const dir = mkdtempSync(join(tmpdir(), 'metrics-tls-'));
      try {
        assert.throws(() => loadServingCertificate({ certDir: dir }), /^Error: --metrics-cert-dir .*: expected tls\.crt and tls\.key \(PEM\) there/);
        writeFileSync(join(dir, 'tls.crt'), 'not pem');
        writeFileSync(join(dir, 'tls.key'), 'not pem');
        await assert.rejects(serveMetrics({ port: 0, source, secure: { authorizer: new MetricsAuthorizer(new FakeReviewer()), tls: { certDir: dir } } }), /--metrics-cert-dir .*: tls\.crt and tls\.key are not a PEM certificate and its key/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('without a certificate directory, serves a self-signed certificate for this host and localhost', async function () {
      const server = await serveMetrics({ port: 0, host: '127.0.0.1', source, secure: { authorizer: new MetricsAuthorizer(new FakeReviewer()), tls: { altNames: ['perseus-operator-controller-metrics.perseus-system.svc'] } } });
      try {
        const x = new X509Certificate(server.certificatePem ?? '');
        assert.match(x.subjectAltName ?? '', /DNS:localhost, IP Address:127\.0\.0\.1, .*DNS:perseus-operator-controller-metrics\.perseus-system\.svc/);
        assert.equal((await get(server.port, '/metrics', 'reader-token')).status, 200);
      } finally {
        await server.close();
      }
    });
  });
});
