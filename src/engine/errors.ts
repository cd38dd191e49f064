// Errors a user can cause carry a code and a message that says what to do; the CLI prints the message only.
export class Gan3dError extends Error {
  readonly code: string;
  constructor(message: string, code = 'GAN3D_ERROR') {
    super(message);
    this.name = 'Gan3dError';
    this.code = code;
  }
}

export function isGan3dError(e: unknown): e is Gan3dError {
  return e instanceof Gan3dError;
}
