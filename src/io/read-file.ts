// Reading a user's input file with errors that name the file and say what is wrong, instead of an errno stack.
import { promises as fs } from 'node:fs';
import { Gan3dError } from '../engine/errors.js';

/** Reads a whole input file; missing, unreadable, folder and empty inputs are Gan3dErrors naming the file. */
export async function readInputFile(file: string, what = 'file'): Promise<Buffer> {
  let size: number;
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) throw new Gan3dError(`${file} is a folder, not a ${what}.`, 'IO_NOT_A_FILE');
    size = stat.size;
  } catch (e) {
    if (e instanceof Gan3dError) throw e;
    throw describe(file, what, e);
  }
  if (size === 0) throw new Gan3dError(`${file} is empty (0 bytes); it is not a valid ${what}.`, 'IO_EMPTY_FILE');
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw describe(file, what, e);
  }
  if (bytes.length === 0) throw new Gan3dError(`${file} is empty (0 bytes); it is not a valid ${what}.`, 'IO_EMPTY_FILE');
  return bytes;
}

function describe(file: string, what: string, e: unknown): Gan3dError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Gan3dError(`${what[0].toUpperCase()}${what.slice(1)} not found: ${file}. Check the path.`, 'IO_NOT_FOUND');
  if (code === 'ENOTDIR') return new Gan3dError(`${what[0].toUpperCase()}${what.slice(1)} not found: ${file} (a part of the path is not a folder).`, 'IO_NOT_FOUND');
  if (code === 'EACCES' || code === 'EPERM') {
    return new Gan3dError(`Cannot read ${file}: permission denied. Check the file's permissions.`, 'IO_PERMISSION');
  }
  if (code === 'EISDIR') return new Gan3dError(`${file} is a folder, not a ${what}.`, 'IO_NOT_A_FILE');
  return new Gan3dError(`Cannot read ${file}: ${(e as Error).message}.`, 'IO_READ_FAILED');
}
