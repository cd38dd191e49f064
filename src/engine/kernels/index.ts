// Kernels the wasm backend lacks or runs slowly, registered over (or beside) the stock ones.
import { registerUnsortedSegmentSumWasm } from './unsorted-segment-sum.js';
import { conv2dKernel } from './conv2d.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from './depthwise-backprop.js';
import { castKernel, identityKernel } from './identity.js';
import { registerWasmKernel } from './wasm-util.js';
let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  registerUnsortedSegmentSumWasm();
  // Conv2D: the stock XNNPACK kernel for reused filters, matmul paths when a new filter makes it expensive.
  registerWasmKernel('Conv2D', conv2dKernel);
  // Conv gradients composed from the stock XNNPACK kernels (replaces the slow stock Conv2DBackpropInput).
  registerWasmKernel('Conv2DBackpropFilter', conv2dBackpropFilterKernel);
  registerWasmKernel('Conv2DBackpropInput', conv2dBackpropInputKernel);
  registerWasmKernel('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilterKernel);
  registerWasmKernel('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInputKernel);
  // Clones (every tensor saved for a gradient) and same-dtype casts share the buffer instead of copying it.
  registerWasmKernel('Identity', identityKernel);
  registerWasmKernel('Cast', castKernel);
}
