// `perseus apiserver`: runs the embedded Kubernetes API server in the foreground and writes a kubeconfig
// for it, so kubectl, helm and the other components can be pointed at it.
import { writeFile } from 'node:fs/promises';
import { startApiServer } from '../sim/apiserver/index.ts';
import type { Command } from './main.ts';
import { intFlag, parseFlags, runCommand } from './flags.ts';

const flags = {
  port: { type: 'string' },
  host: { type: 'string' },
  'kubeconfig-out': { type: 'string' },
  'history-size': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const help = `Usage: perseus apiserver [--port N] [--kubeconfig-out FILE]

Runs the embedded Kubernetes API server on loopback (plain HTTP, token auth) until interrupted.

Flags:
  --port N              TCP port (default 6443; 0 picks a free one)
  --host ADDR           loopback address to listen on (default 127.0.0.1)
  --kubeconfig-out FILE write a kubeconfig for the server to FILE (default: print it)
  --history-size N      watch history kept before compaction (default 10000)
`;

export const command: Command = {
  summary: 'Run the embedded Kubernetes API server (for tests and local trials)',
  run: (argv) =>
    runCommand('apiserver', async () => {
      const { values } = parseFlags(argv, flags);
      if (values.help === true) {
        process.stdout.write(help);
        return 0;
      }
      const port = intFlag('port', values.port, 6443, 0, 65535);
      const historySize = intFlag('history-size', values['history-size'], 10_000, 1);
      const server = await startApiServer({ port, historySize, ...(values.host === undefined ? {} : { host: values.host }) });
      const out = values['kubeconfig-out'];
      if (out !== undefined) {
        try {
          await writeFile(out, server.kubeconfigYaml(), { mode: 0o600 });
        } catch (err) {
          await server.stop();
          throw new Error(`--kubeconfig-out: cannot write ${out}: ${(err as Error).message}`, { cause: err });
        }
        process.stderr.write(`perseus apiserver: serving ${server.url}; kubeconfig written to ${out}\n`);
      } else {
        process.stderr.write(`perseus apiserver: serving ${server.url}\n`);
        process.stdout.write(server.kubeconfigYaml());
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.stop();
      return 0;
    }),
};
