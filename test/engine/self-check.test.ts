import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSelfCheck, formatSelfCheck } from '../../src/engine/self-check.js';

test('engine self-check covers every registered kernel and passes on wasm', async () => {
  const report = await runSelfCheck();
  assert.equal(report.backend.name, 'wasm');
  const names = report.kernels.map((k) => k.kernel);
  for (const k of ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'UnsortedSegmentSum',
    'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
    assert.ok(names.includes(k), `${k} missing from the self-check`);
  }
  for (const k of report.kernels) assert.ok(k.maxRelError <= 1e-4, `${k.kernel}: ${k.maxRelError}`);
  assert.ok(report.ok);
  assert.ok(report.convForwardGflops > 0);
  assert.match(formatSelfCheck(report), /engine self-check passed/);
});
