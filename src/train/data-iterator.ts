// A resumable epoch iterator over example indices: each epoch visits every index once in an order shuffled by
// (seed, epoch), so its whole state is three numbers and a resumed run draws exactly the batches it would have.
import { Gan3dError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';

export interface EpochIteratorState {
  seed: number;
  /** Epochs completed so far (0 during the first pass). */
  epoch: number;
  /** Index into the current epoch's order of the next example. */
  position: number;
  size: number;
  shuffle: boolean;
}

export class EpochIterator {
  readonly size: number;
  readonly seed: number;
  readonly shuffle: boolean;
  private epochNumber = 0;
  private position = 0;
  private order: Uint32Array;

  constructor(size: number, seed: number, shuffle = true) {
    if (!Number.isInteger(size) || size < 1) throw new Gan3dError(`A dataset needs at least one example, got ${size}.`, 'DATA_EMPTY');
    this.size = size;
    this.seed = seed;
    this.shuffle = shuffle;
    this.order = this.orderFor(0);
  }

  get epoch(): number {
    return this.epochNumber;
  }

  /** Fisher–Yates with an Rng seeded by (seed, epoch): reproducible without storing the permutation. */
  private orderFor(epoch: number): Uint32Array {
    const order = new Uint32Array(this.size);
    for (let i = 0; i < this.size; i++) order[i] = i;
    if (!this.shuffle) return order;
    const rng = new Rng((Math.imul(this.seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0);
    for (let i = this.size - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }

  /** The next `n` example indices; a batch that runs past the end of an epoch continues into the next one. */
  next(n: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      if (this.position === this.size) {
        this.epochNumber++;
        this.position = 0;
        this.order = this.orderFor(this.epochNumber);
      }
      out.push(this.order[this.position++]);
    }
    return out;
  }

  getState(): EpochIteratorState {
    return { seed: this.seed, epoch: this.epochNumber, position: this.position, size: this.size, shuffle: this.shuffle };
  }

  setState(state: EpochIteratorState): void {
    if (state.size !== this.size || state.seed !== this.seed || state.shuffle !== this.shuffle) {
      throw new Gan3dError(
        `The data iterator state (size ${state.size}, seed ${state.seed}) does not match this dataset (size ${this.size}, seed ${this.seed}): ` +
          'resume with the same data and seed.',
        'CHECKPOINT_INCOMPATIBLE',
      );
    }
    if (!Number.isInteger(state.position) || state.position < 0 || state.position > this.size) {
      throw new Gan3dError(`Data iterator position ${state.position} is out of range.`, 'CHECKPOINT_CORRUPT');
    }
    this.epochNumber = state.epoch;
    this.position = state.position;
    this.order = this.orderFor(state.epoch);
  }
}
