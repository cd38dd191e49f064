// Writers never leave half a file behind: every output is written to a hidden temp file in the destination folder
// (same file system, so the final rename is atomic) and only then moved into place. Existing files are kept unless
// the caller passes force, and a set of files (OBJ + MTL + texture) is checked as a whole before anything is written.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Gan3dError } from '../engine/errors.js';

export interface WriteOptions {
  /** Replace files that already exist (the CLI's --force). Default false: an existing file is an error. */
  force?: boolean;
}

export interface OutputFile {
  path: string;
  data: Uint8Array | string;
}

function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const suffix = `${process.pid}.${randomBytes(4).toString('hex')}`;
  return path.join(dir, `.${path.basename(target)}.${suffix}.tmp`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

function alreadyExists(target: string): Gan3dError {
  return new Gan3dError(`Output file ${target} already exists; pass --force (force: true) to overwrite it.`, 'IO_OUTPUT_EXISTS');
}

function writeFailed(target: string, e: unknown): Gan3dError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied; choose a folder you can write to'
      : code === 'ENOSPC'
        ? 'the disk is full'
        : code === 'ENOTDIR'
          ? 'a part of the path is a file, not a folder'
          : code === 'EISDIR'
            ? 'the path is a folder; give a file name'
            : (e as Error).message;
  return new Gan3dError(`Cannot write ${target}: ${why}.`, 'IO_WRITE_FAILED');
}

async function writeTemp(tmp: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(tmp, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Moves a finished temp file into place; without force, a hard link refuses to replace a file created meanwhile. */
async function commit(tmp: string, target: string, force: boolean): Promise<void> {
  if (force) {
    await fs.rename(tmp, target);
    return;
  }
  try {
    await fs.link(tmp, target);
    await fs.unlink(tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw alreadyExists(target);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw e;
    // File systems without hard links: check, then rename.
    if (await exists(target)) throw alreadyExists(target);
    await fs.rename(tmp, target);
  }
}

/**
 * Writes several files all-or-nothing: every target is checked first, then all are written to temp files, then
 * all are moved into place. If anything fails, temp files are removed and files this call created are deleted.
 * Parent folders are created when missing.
 */
export async function writeFilesAtomic(files: readonly OutputFile[], options: WriteOptions = {}): Promise<void> {
  const force = options.force ?? false;
  const targets = files.map((f) => path.resolve(f.path));
  if (new Set(targets).size !== targets.length) {
    throw new Gan3dError(`Two outputs share one path: ${targets.join(', ')}.`, 'IO_BAD_ARGUMENT');
  }
  for (const target of targets) {
    if (!force && (await exists(target))) throw alreadyExists(target);
  }
  const temps: string[] = [];
  const created: string[] = [];
  let current = targets[0];
  try {
    for (let k = 0; k < files.length; k++) {
      current = targets[k];
      await fs.mkdir(path.dirname(current), { recursive: true });
      const tmp = tempPathFor(current);
      temps.push(tmp);
      await writeTemp(tmp, files[k].data);
    }
    for (let k = 0; k < files.length; k++) {
      current = targets[k];
      await commit(temps[k], current, force);
      created.push(current);
    }
  } catch (e) {
    await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    if (!force) await Promise.all(created.map((t) => fs.rm(t, { force: true })));
    if (e instanceof Gan3dError) throw e;
    throw writeFailed(current, e);
  }
}

/** Writes one file atomically (temp file + rename); refuses to replace an existing file unless `force`. */
export async function writeFileAtomic(target: string, data: Uint8Array | string, options: WriteOptions = {}): Promise<void> {
  await writeFilesAtomic([{ path: target, data }], options);
}
