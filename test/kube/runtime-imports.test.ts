// The controller and agent processes never load @kubernetes/client-node (its import alone costs ~75 MiB):
// a child process records every specifier its module graph resolves, through a module.register resolve
// hook, while it imports their entry points; a control import shows that the hook sees the library.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** Imports `modules` in a fresh node (with tsx) and returns the importers of every client-node specifier. */
function clientNodeImports(modules: readonly string[]): string[] {
  const hook = `
    let port;
    export function initialize(data) { port = data.port; }
    export async function resolve(specifier, context, next) {
      if (specifier.startsWith('@kubernetes/client-node')) port.postMessage(specifier + ' from ' + context.parentURL);
      return next(specifier, context);
    }`;
  const script = `
    import { register } from 'node:module';
    import { pathToFileURL } from 'node:url';
    const { port1, port2 } = new MessageChannel();
    const seen = [];
    port1.on('message', (m) => seen.push(m));
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { port: port2 }, transferList: [port2] });
    for (const m of ${JSON.stringify(modules)}) await import(pathToFileURL(m).href);
    await new Promise((r) => setTimeout(r, 100));
    port1.close();
    process.stdout.write(JSON.stringify(seen));`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as string[];
}

describe('runtime import graph', function () {
  this.timeout(120_000);

  it('the controller and agent entry points and src/kube never resolve @kubernetes/client-node', () => {
    const runtime = ['src/cli/main.ts', 'src/cli/controller.ts', 'src/cli/agent.ts', 'src/controller/operator.ts', 'src/kube/client.ts', 'src/kube/informer.ts', 'src/kube/leader.ts', 'src/kube/metrics-auth.ts', 'src/kube/metrics-server.ts'];
    assert.deepEqual(clientNodeImports(runtime), []);
  });

  it('(control) the hook does see the library where a module imports it', () => {
    const seen = clientNodeImports(['test/support/library-kubeconfig.ts']);
    assert.equal(seen.length, 1);
    assert.match(seen[0] ?? '', /^@kubernetes\/client-node from file:.*\/test\/support\/library-kubeconfig\.ts$/);
  });
});
