// Generates manifests/ from the Helm chart (npm run gen:manifests): first copies crds/ into the chart, then
// install.yaml is the chart rendered with default values, CRDs included, after the Namespace it installs
// into; the alert rules, the dashboard and the example jobs are copies of their single sources.
// test/chart checks the committed files for drift.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The chart's directory, relative to the root. */
export const CHART_DIR = 'charts/perseus-operator';
/** Release name and namespace of the plain install (the README's Helm commands use the same). */
export const RELEASE = 'perseus-operator';
export const NAMESPACE = 'perseus-system';

/** The example jobs copied into manifests/examples (source in examples/ → copy). */
export const EXAMPLE_COPIES: Readonly<Record<string, string>> = {
  'examples/gpt3-8stage.yaml': 'manifests/examples/gpt3-8stage.yaml',
  'examples/bert-stage-granularity.yaml': 'manifests/examples/bert-stage-granularity.yaml',
};

/** Plain copies of chart files for users without Helm or the Prometheus operator. */
export const CHART_FILE_COPIES: Readonly<Record<string, string>> = {
  [`${CHART_DIR}/files/perseus-alerts.yaml`]: 'manifests/prometheus/perseus-alerts.yaml',
  [`${CHART_DIR}/files/perseus-dashboard.json`]: 'manifests/grafana/perseus-dashboard.json',
};

/** `helm template` arguments of the default render. */
export function defaultTemplateArgs(): string[] {
  return ['template', RELEASE, join(ROOT, CHART_DIR), '--namespace', NAMESPACE, '--include-crds'];
}

// The agent needs hostPath volumes and CAP_SYS_ADMIN: the namespace must admit privileged pods.
const NAMESPACE_DOC = `apiVersion: v1
kind: Namespace
metadata:
  name: ${NAMESPACE}
  labels:
    app.kubernetes.io/part-of: perseus
    pod-security.kubernetes.io/enforce: privileged
    pod-security.kubernetes.io/warn: privileged
    pod-security.kubernetes.io/audit: privileged
`;

/** Builds install.yaml from the output of the default `helm template`. */
export function installYaml(rendered: string): string {
  const header = [
    '# Perseus operator: everything `helm install` installs with default values, for `kubectl apply -f`.',
    `# Generated from ${CHART_DIR} by \`npm run gen:manifests\`; do not edit.`,
  ].join('\n');
  return `${header}\n---\n${NAMESPACE_DOC}${rendered.startsWith('---') ? '' : '---\n'}${rendered.trimEnd()}\n`;
}

/** The chart's copies of the generated CRDs (crds/ is their source): repository-relative path → content. */
export async function crdCopies(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of (await readdir(join(ROOT, 'crds'))).filter((f) => f.endsWith('.yaml')).sort()) {
    files.set(`${CHART_DIR}/crds/${name}`, await readFile(join(ROOT, 'crds', name), 'utf8'));
  }
  return files;
}

/** Every generated file of manifests/: repository-relative path → content (renders the chart as it is on disk). */
export async function generateManifests(helm: string): Promise<Map<string, string>> {
  const { stdout } = await run(helm, defaultTemplateArgs(), { maxBuffer: 64 * 1024 * 1024 });
  const files = new Map<string, string>([['manifests/install.yaml', installYaml(stdout)]]);
  for (const [from, to] of Object.entries({ ...CHART_FILE_COPIES, ...EXAMPLE_COPIES })) {
    files.set(to, await readFile(join(ROOT, from), 'utf8'));
  }
  return files;
}

async function main(): Promise<void> {
  const { helmPath } = await import('../test/support/kube-tools.ts');
  const write = async (files: Map<string, string>): Promise<void> => {
    for (const [path, content] of files) {
      await mkdir(dirname(join(ROOT, path)), { recursive: true });
      await writeFile(join(ROOT, path), content);
      process.stdout.write(`Wrote ${path}\n`);
    }
  };
  await write(await crdCopies());
  await write(await generateManifests(process.env['HELM'] ?? (await helmPath())));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
