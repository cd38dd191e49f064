// The Module pattern of gan3d's layers: a block owns its variables under short local names and its child blocks
// under names of their own, so every variable has a stable hierarchical name ("enc/0/conv/w") for checkpoints.
// tf.Variable names stay tfjs's automatic unique ones: tfjs keeps them in one global registry, so two models built
// from the same class would collide if the hierarchical names were used there.
import * as tf from '@tensorflow/tfjs';
import { Gan3dError } from '../engine/errors.js';

/** A variable that owns its value: the initial tensor is released, so creating a model leaks nothing. */
export function ownedVariable(initial: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(initial, trainable);
  initial.dispose();
  return v;
}

const NAME = /^[A-Za-z0-9_-]+$/;

export abstract class Module {
  private readonly params = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();

  /** Registers a variable of this block; `initial` is consumed. */
  protected param(name: string, initial: tf.Tensor): tf.Variable {
    this.checkName(name);
    const v = ownedVariable(initial);
    this.params.set(name, v);
    return v;
  }

  /** Registers a child block and returns it. */
  protected child<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.children.set(name, module);
    return module;
  }

  private checkName(name: string): void {
    if (!NAME.test(name)) throw new Gan3dError(`Module names use letters, digits, _ and - only, got "${name}".`, 'BAD_ARGUMENT');
    if (this.params.has(name) || this.children.has(name)) {
      throw new Gan3dError(`Module already has a variable or child named "${name}".`, 'BAD_ARGUMENT');
    }
  }

  /** Every variable under this block, keyed by its hierarchical name, in registration order. */
  namedVariables(prefix = ''): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, v] of this.params) out.set(prefix + name, v);
    for (const [name, m] of this.children) {
      for (const [n, v] of m.namedVariables(`${prefix}${name}/`)) out.set(n, v);
    }
    return out;
  }

  variables(): tf.Variable[] {
    return [...this.namedVariables().values()];
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    return this.variables().reduce((a, v) => a + v.size, 0);
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }

  abstract apply(x: tf.Tensor4D): tf.Tensor4D;
}

/** Layers applied in order, named by their index ("0", "1", ...). */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.layers.reduce((h, m) => m.apply(h), x);
  }
}
