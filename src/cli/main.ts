// The `perseus` CLI: one binary, one sub-command per component. Wiring only: each command lives in its
// own module under src/cli/ and is loaded on demand, so `perseus plan` never loads the Kubernetes client.
import { readFileSync } from 'node:fs';

/** A sub-command: parses its own argv, returns the process exit code. */
export interface Command {
  readonly summary: string;
  run(argv: readonly string[]): Promise<number>;
}

const commands: Record<string, { summary: string; module: string }> = {
  plan: { summary: 'Compute the time–energy frontier and a frequency plan from a stage profile', module: 'plan' },
  apiserver: { summary: 'Run the embedded Kubernetes API server (for tests and local trials)', module: 'apiserver' },
  controller: { summary: 'Run the PerseusTrainingJob controller', module: 'controller' },
  agent: { summary: 'Run the node agent (NVML clock control, local training API)', module: 'agent' },
  simulate: { summary: 'Run the whole system end to end on simulated GPUs', module: 'simulate' },
};

/** The package version (package.json two folders up, from src/cli/ and from the compiled dist/cli/ alike). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`);
  return `Usage: perseus <command> [flags]\n       perseus --version\n\nCommands:\n${lines.join('\n')}\n\nRun 'perseus <command> --help' for a command's flags.\n`;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`perseus ${version()}\n`);
    return 0;
  }
  const entry = commands[name];
  if (entry === undefined) {
    process.stderr.write(`perseus: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  let mod: { command: Command };
  try {
    mod = (await import(`./${entry.module}.ts`)) as { command: Command };
  } catch (err) {
    process.stderr.write(`perseus: command "${name}" is not available in this build: ${(err as Error).message}\n`);
    return 2;
  }
  return mod.command.run(rest);
}
