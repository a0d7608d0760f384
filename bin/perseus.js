#!/usr/bin/env node
// Entry point of the `perseus` CLI. The compiled build (dist/, from `npm run build`) runs as plain
// JavaScript; it is used when this tree has no sources (the image and the published package ship dist/
// only) or when PERSEUS_COMPILED=1. Otherwise the TypeScript sources run through tsx's ESM loader, so a
// checkout never runs a stale build.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli', 'main.js');
const sources = path.join(root, 'src', 'cli', 'main.ts');
let entry = sources;
if (existsSync(compiled) && (!existsSync(sources) || process.env.PERSEUS_COMPILED === '1')) {
  entry = compiled;
} else {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
