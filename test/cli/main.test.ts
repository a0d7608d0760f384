// The CLI entry point: `perseus --version` prints the package version, from the sources and from the
// compiled build alike; an unknown command is exit code 2 with the usage.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('perseus CLI entry point', function () {
  this.timeout(60_000);

  it('prints the package version with --version', async () => {
    const { stdout } = await run(process.execPath, ['bin/perseus.js', '--version']);
    assert.equal(stdout, `perseus ${version}\n`);
  });

  it('answers an unknown command with exit code 2 and the usage, which lists --version', async () => {
    await assert.rejects(run(process.execPath, ['bin/perseus.js', 'frobnicate']), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /unknown command "frobnicate"/);
      assert.match(err.stderr ?? '', /perseus --version/);
      return true;
    });
  });
});
