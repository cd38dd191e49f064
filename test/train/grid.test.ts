import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../src/engine/backend.js';
import { EpochIterator } from '../../src/train/data-iterator.js';
import { gridPixels, tileGrid } from '../../src/train/grid.js';
import { memorySnapshot, peakRssBytes } from '../../src/train/memory.js';

before(async () => {
  await initBackend('wasm');
});

test('grid: rows are samples, columns are panels; [-1,1] images, auto-stretched maps, grey and NaN', async () => {
  const images = tf.tensor4d([-1, 1, 0, -1, 1, 1], [2, 1, 1, 3]); // two 1×1 RGB samples
  const depth = { data: Float32Array.from([2, 4, Number.NaN, 3]), shape: [2, 1, 2] }; // two 1×2 maps
  const grid = gridPixels([{ name: 'image', images }, { name: 'depth', images: depth, range: 'auto' }], { gap: 1, background: [9, 9, 9] });
  assert.equal(images.isDisposed, false, 'the caller keeps its tensors');
  images.dispose();
  assert.deepEqual(grid.columns, ['image', 'depth']);
  // Cells are 1×2 (the largest panel); 2 columns, 2 rows, gap 1.
  assert.equal(grid.width, 2 * 2 + 3);
  assert.equal(grid.height, 2 * 1 + 3);
  const px = (x: number, y: number) => [...grid.pixels.subarray((y * grid.width + x) * 3, (y * grid.width + x) * 3 + 3)];
  assert.deepEqual(px(0, 0), [9, 9, 9]);
  assert.deepEqual(px(1, 1), [0, 255, 128]); // row 0, image (centred: x offset 0 since (2-1)>>1 = 0)
  assert.deepEqual(px(4, 1), [0, 0, 0]); // depth 2 → min
  assert.deepEqual(px(5, 1), [255, 255, 255]); // depth 4 → max
  assert.deepEqual(px(4, 3), [9, 9, 9]); // NaN shows the background
  assert.deepEqual(px(1, 3), [0, 255, 255]);
  const png = await tileGrid([{ name: 'image', images: depth, range: [0, 4] }]);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.channels, 3);
  assert.throws(() => gridPixels([{ name: 'a', images: depth }, { name: 'b', images: { data: new Float32Array(2), shape: [1, 1, 2] } }]), /1 samples, "a" has 2/);
});

test('epoch iterator: every index once per epoch, order by (seed, epoch), exact restore mid-epoch', () => {
  const it = new EpochIterator(5, 42);
  const first = it.next(5);
  assert.deepEqual([...first].sort(), [0, 1, 2, 3, 4]);
  const a = it.next(3); // epoch 1, part way
  assert.equal(it.epoch, 1);
  const state = it.getState();
  const rest = it.next(6);
  const again = new EpochIterator(5, 42);
  again.setState(state);
  assert.deepEqual(again.next(6), rest);
  assert.notDeepEqual([...first, ...a].slice(0, 5), [...a, ...rest].slice(0, 5));
  assert.throws(() => new EpochIterator(6, 42).setState(state), /does not match this dataset/);
});

test('memory snapshot reports peak RSS in MiB', () => {
  const snap = memorySnapshot();
  assert.ok(peakRssBytes() > 1e7);
  assert.ok(snap.peakRssMiB >= snap.rssMiB * 0.5 && snap.peakRssMiB > 10);
  assert.equal(typeof snap.tensors, 'number');
});
