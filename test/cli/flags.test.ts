import assert from 'node:assert/strict';
import { describeError, intFlag } from '../../src/cli/flags.ts';
import { main } from '../../src/cli/main.ts';
import { captureOutput } from '../support/capture-output.ts';

/** Runs the CLI in-process; every case here fails on its flags before any work starts. */
const run = (argv: string[]): Promise<{ code: number; err: string }> => captureOutput(() => main(argv));

describe('CLI flag errors', function () {
  it('bounds integer flags and names the range', function () {
    assert.equal(intFlag('port', '65535', 1, 0, 65535), 65535);
    assert.throws(() => intFlag('port', '65536', 1, 0, 65535), /--port: expected an integer in \[0, 65535\], got "65536"/);
    assert.throws(() => intFlag('workers', '0', 1), /--workers: expected an integer ≥ 1, got "0"/);
  });

  it('describes an error with its causes, once each', function () {
    const inner = new Error('ENOENT: no such file');
    assert.equal(describeError(new Error('cannot load kubeconfig k.yaml', { cause: inner })), 'cannot load kubeconfig k.yaml: ENOENT: no such file');
    assert.equal(describeError(new Error(`outer: ${inner.message}`, { cause: inner })), 'outer: ENOENT: no such file');
    assert.equal(describeError('plain'), 'plain');
  });

  const cases: [string[], RegExp][] = [
    [['apiserver', '--port', '80000'], /^perseus apiserver: --port: expected an integer in \[0, 65535\], got "80000"\n$/],
    [['agent', '--metrics-port', '70000'], /^perseus agent: --metrics-port: expected an integer in \[0, 65535\], got "70000"\n$/],
    [['controller', '--metrics-secure=yes'], /^perseus controller: --metrics-secure: expected true or false, got "yes"\n$/],
    [['controller', '--metrics-port', '8080'], /^perseus controller: --metrics-port: must differ from --http-port \(both 8080\)\n$/],
    [['controller', '--metrics-cert-dir', '/nonexistent/certs'], /^perseus controller: --metrics-cert-dir: expected a directory holding tls\.crt and tls\.key, got "\/nonexistent\/certs"\n$/],
    [['controller', '--metrics-secure=false', '--metrics-cert-dir', '/tmp'], /^perseus controller: --metrics-cert-dir: only with --metrics-secure=true/],
    [['agent', '--metrics-port', '9401'], /^perseus agent: --metrics-port: must differ from --health-port \(both 9401\)\n$/],
    [['agent', '--metrics-secure=no'], /^perseus agent: --metrics-secure: expected true or false, got "no"\n$/],
    [['simulate', '--straggler', 'pipeline=2,factor=1.2,at=10'], /^perseus simulate: --straggler: pipeline must be < 2 \(the job has 2 pipelines\), got 2\n$/],
    [['simulate', '--pipelines', '4', '--straggler', 'pipeline=4,factor=1.2,at=10'], /--straggler: pipeline must be < 4 \(the job has 4 pipelines\), got 4/],
    [['simulate', '--nodes', '4', '--metrics-port', '65532'], /^perseus simulate: --metrics-port: expected an integer in \[0, 65531\] \(node i's agent serves on the port \+ 1 \+ i\), got "65532"\n$/],
    [['simulate', '--report', '/etc/hostname/report'], /^perseus simulate: --report: expected a writable directory, got \/etc\/hostname\/report \(ENOTDIR/],
    [['simulate', '--report', '/proc/perseus-report/a'], /^perseus simulate: --report: expected a writable directory, got \/proc\/perseus-report\/a \(ENOENT/],
  ];
  for (const [argv, expected] of cases) {
    it(`perseus ${argv.join(' ')} exits 2 naming the flag`, async function () {
      const r = await run(argv);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, expected);
    });
  }
});
