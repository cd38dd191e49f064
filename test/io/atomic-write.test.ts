import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Gan3dError } from '../../src/engine/errors.js';
import { writeFileAtomic, writeFilesAtomic } from '../../src/io/atomic-write.js';
import { tempDir } from './helpers.js';

const tmp = await tempDir();
after(() => tmp.cleanup());

async function listing(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

test('writes a file, refuses to overwrite it without force, replaces it with force; no temp files remain', async () => {
  const dir = path.join(tmp.dir, 'single');
  const target = path.join(dir, 'out.txt');
  await writeFileAtomic(target, 'first');
  assert.equal(await fs.readFile(target, 'utf8'), 'first');
  await assert.rejects(writeFileAtomic(target, 'second'), (e: unknown) => {
    assert.ok(e instanceof Gan3dError && e.code === 'IO_OUTPUT_EXISTS');
    assert.match(e.message, /out\.txt already exists; pass --force/);
    return true;
  });
  assert.equal(await fs.readFile(target, 'utf8'), 'first');
  await writeFileAtomic(target, new Uint8Array([104, 105]), { force: true });
  assert.equal(await fs.readFile(target, 'utf8'), 'hi');
  assert.deepEqual(await listing(dir), ['out.txt']);
});

test('a set of files is all-or-nothing: one existing target blocks every write', async () => {
  const dir = path.join(tmp.dir, 'set');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'b.mtl'), 'old');
  const files = ['a.obj', 'b.mtl', 'c.png'].map((name) => ({ path: path.join(dir, name), data: name }));
  await assert.rejects(writeFilesAtomic(files), /b\.mtl already exists/);
  assert.deepEqual(await listing(dir), ['b.mtl']);
  await writeFilesAtomic(files, { force: true });
  assert.deepEqual(await listing(dir), ['a.obj', 'b.mtl', 'c.png']);
  assert.equal(await fs.readFile(path.join(dir, 'b.mtl'), 'utf8'), 'b.mtl');
});

test('a failure part-way leaves no partial output and names the file', async () => {
  const dir = path.join(tmp.dir, 'fail');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'blocker'), 'a file where a folder should be');
  const files = [
    { path: path.join(dir, 'good.obj'), data: 'v 0 0 0' },
    { path: path.join(dir, 'blocker', 'bad.mtl'), data: 'newmtl x' },
  ];
  await assert.rejects(writeFilesAtomic(files), (e: unknown) => {
    assert.ok(e instanceof Gan3dError && e.code === 'IO_WRITE_FAILED', String(e));
    assert.match(e.message, /Cannot write .*bad\.mtl/);
    return true;
  });
  assert.deepEqual(await listing(dir), ['blocker']);
});
