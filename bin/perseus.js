#!/usr/bin/env node
// Entry point of the `perseus` CLI: runs the TypeScript sources through tsx's ESM loader.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register('tsx/esm', pathToFileURL('./'));
const here = path.dirname(fileURLToPath(import.meta.url));
const { main } = await import(pathToFileURL(path.join(here, '..', 'src', 'cli', 'main.ts')).href);
process.exitCode = await main(process.argv.slice(2));
