// `npm run gen:crds`: writes crds/*.yaml from the schemas in src/api.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allCrds, renderCrdYaml } from './crds.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
for (const { file, crd } of allCrds()) {
  const target = path.join(root, 'crds', file);
  writeFileSync(target, renderCrdYaml(crd));
  process.stdout.write(`Wrote ${path.relative(root, target)}\n`);
}
