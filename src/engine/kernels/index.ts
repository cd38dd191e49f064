// Kernels the wasm backend lacks or runs slowly, registered over (or beside) the stock ones.
let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
}
