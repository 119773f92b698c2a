// Module: explicitly registered parameters, buffers and children under PyTorch's
// snake_case names, in PyTorch's order, so that state dicts match by key.

import { Tensor, numel, sameShape } from '../engine/tensor.js';
import { toFloat32, type TensorData } from '../io/dtype.js';

/** An integer buffer kept on the host (BatchNorm's num_batches_tracked, an int64 in PyTorch). */
export class HostInt {
  constructor(public value = 0) {}
}

export type StateValue = Tensor | HostInt;

/** Named tensors to load from: a map in memory, or a file read one tensor at a time. */
export interface StateSource {
  keys(): Iterable<string>;
  shape(key: string): readonly number[];
  read(key: string): TensorData;
}

export function mapSource(dict: ReadonlyMap<string, TensorData>): StateSource {
  return { keys: () => dict.keys(), shape: (k) => dict.get(k)!.shape, read: (k) => dict.get(k)! };
}

export interface LoadOptions {
  strict?: boolean;
  /** Where the dict came from, for error messages. */
  source?: string;
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, StateValue>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.keep();
    t.requiresGrad = true;
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer<T extends StateValue>(name: string, t: T): T {
    if (t instanceof Tensor) t.keep();
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Replaces a registered child (e.g. a new classification head). */
  replaceModule<M extends Module>(name: string, m: M): M {
    const old = this.children.get(name);
    if (!old) throw new Error(`no submodule named "${name}"`);
    old.dispose();
    this.children.set(name, m);
    return m;
  }

  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** Every module in the tree, depth first, with its dotted name ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [n, p] of m.params) out.push([prefix ? `${prefix}.${n}` : n, p]);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters and buffers: per module its parameters, then its buffers, then its children. */
  stateDict(): Map<string, StateValue> {
    const out = new Map<string, StateValue>();
    const walk = (m: Module, prefix: string) => {
      for (const [n, p] of m.params) out.set(prefix + n, p);
      for (const [n, b] of m.buffers) out.set(prefix + n, b);
      for (const [n, c] of m.children) walk(c, `${prefix}${n}.`);
    };
    walk(this, '');
    return out;
  }

  /**
   * Copies values in by name. Strict (the default) fails, listing every missing key,
   * unexpected key and shape mismatch, before anything is written.
   */
  loadStateDict(src: StateSource | ReadonlyMap<string, TensorData>, { strict = true, source = 'state dict' }: LoadOptions = {}): { missing: string[]; unexpected: string[] } {
    const from = src instanceof Map ? mapSource(src) : (src as StateSource);
    const keys = new Set(from.keys());
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !keys.has(k));
    const unexpected = [...keys].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, v] of own) {
      if (!keys.has(k)) continue;
      const want = v instanceof Tensor ? v.shape : [];
      const got = from.shape(k);
      const same = v instanceof Tensor ? sameShape(got, want) : numel(got) === 1;
      if (!same) mismatched.push(`${k} (checkpoint [${got}], model [${want}])`);
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`shape mismatch: ${mismatched.join(', ')}`);
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (problems.length) throw new Error(`${source}: cannot load into ${this.constructor.name}: ${problems.join('; ')}`);
    for (const [k, v] of own) {
      if (!keys.has(k)) continue;
      const d = from.read(k);
      if (v instanceof HostInt) v.value = Number(d.data[0]);
      else v.write(v.dtype === 'i32' ? Int32Array.from(d.data as ArrayLike<number>, Number) : toFloat32(d));
    }
    return { missing, unexpected };
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Turns gradients on or off for every parameter of this subtree. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  numParameters(trainableOnly = false): number {
    return this.parameters().reduce((s, p) => s + (trainableOnly && !p.requiresGrad ? 0 : p.size), 0);
  }

  /** Frees every parameter and buffer (and their grads). */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m.params.values()) {
        p.grad?.dispose();
        p.dispose();
      }
      for (const b of m.buffers.values()) if (b instanceof Tensor) b.dispose();
    }
  }
}
