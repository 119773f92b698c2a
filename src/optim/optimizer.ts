// The base of the optimisers: the parameters, the learning rate (a plain number that may
// change every step: kernels take it as a param), per-parameter state created on a
// parameter's first update (step counts, and views of state arenas: src/optim/flat.ts),
// zeroGrad, and state dicts in PyTorch's layout:
// { state: { [index]: { key: Float32Array | number } }, param_groups }.

import { Tensor } from '../engine/tensor.js';
import { full } from '../engine/shaders/elementwise.js';
import { FlatParams } from './flat.js';

export type Hyper = Record<string, number | boolean | number[]>;

export interface OptimizerStateDict {
  /** Per-parameter state keyed by the parameter's index (only parameters updated so far). */
  state: Record<number, Record<string, Float32Array | number>>;
  /** One group: the hyper-parameters and the parameter indices. */
  param_groups: (Hyper & { params: number[] })[];
}

export interface StepOptions {
  /** A 1-element tensor multiplying every gradient (the clip scale from gradNormScale()). */
  gradScale?: Tensor | null;
}

export abstract class Optimizer<S extends Record<string, Tensor | number>> {
  lr: number;
  readonly params: readonly Tensor[];
  protected state: (S | undefined)[];
  /** Keys every per-parameter state holds (checked on load): numbers (counts), the others tensors. */
  protected abstract readonly stateKeys: readonly (keyof S & string)[];
  protected readonly countKeys: readonly string[] = [];
  /** The parameters, gradients and state packed in arenas: one dispatch a kernel over all of them. */
  protected readonly flat: FlatParams;
  private one: Tensor | null = null;

  constructor(params: readonly Tensor[], lr: number) {
    if (!(lr >= 0)) throw new Error(`invalid learning rate: ${lr}`);
    if (new Set(params).size !== params.length) throw new Error('some parameters appear more than once');
    this.params = [...params];
    this.lr = lr;
    this.state = new Array(params.length).fill(undefined);
    this.flat = new FlatParams(this.params);
    this.flat.place();
  }

  /** Drops every gradient (PyTorch's zero_grad(set_to_none=True)), freeing it. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Updates, in place on the GPU, every parameter that has a gradient (the others are
   * untouched): a few dispatches for all of them.
   */
  step(opts: StepOptions = {}): void {
    const scale = opts.gradScale ?? (this.one ??= full([1], 1).keep());
    const active = this.flat.pack();
    this.update(active, scale);
    this.flat.touched(active);
  }

  /** Updates the parameters marked in `active` (their gradients are in the G arena). */
  protected abstract update(active: Uint8Array, scale: Tensor): void;

  /** Parameter i's slots of the state arenas `keys`, zeroed when `zero` (a fresh state). */
  protected stateSlots(i: number, keys: readonly string[], zero: boolean): Record<string, Tensor> {
    return Object.fromEntries(keys.map((k) => [k, zero ? this.flat.slot(k, i).clear() : this.flat.slot(k, i)]));
  }

  protected abstract hyper(): Hyper;
  protected abstract setHyper(h: Hyper): void;

  /** The state as plain data (reads the GPU state back). */
  async stateDict(): Promise<OptimizerStateDict> {
    const state: OptimizerStateDict['state'] = {};
    for (const [i, st] of this.state.entries()) {
      if (!st) continue;
      const out: Record<string, Float32Array | number> = {};
      for (const [k, v] of Object.entries(st)) out[k] = v instanceof Tensor ? await v.readF32() : v;
      state[i] = out;
    }
    return { state, param_groups: [{ ...this.hyper(), params: this.params.map((_, i) => i) }] };
  }

  /** Replaces the state and hyper-parameters with those of `sd` (copied to the GPU); nothing changes when it fails. */
  loadStateDict(sd: OptimizerStateDict): void {
    const group = sd.param_groups[0];
    if (sd.param_groups.length !== 1 || group.params.length !== this.params.length) {
      throw new Error(`loadStateDict: expected one group of ${this.params.length} parameters`);
    }
    const old = this.hyper();
    for (const k of Object.keys(old)) if (typeof group[k] !== typeof old[k]) throw new Error(`loadStateDict: param_groups[0] lacks '${k}'`);
    const entries = Object.entries(sd.state).map(([key, entry]) => {
      const i = Number(key);
      const p = this.params[i];
      if (!p) throw new Error(`loadStateDict: no parameter ${key}`);
      for (const k of this.stateKeys) {
        const v = entry[k];
        const ok = this.countKeys.includes(k) ? typeof v === 'number' : v instanceof Float32Array && v.length === p.size;
        if (!ok) throw new Error(`loadStateDict: parameter ${i} needs '${k}' (${this.countKeys.includes(k) ? 'a number' : `${p.size} floats`})`);
      }
      return [i, entry] as const;
    });
    try {
      this.setHyper(group);
    } catch (e) {
      this.setHyper(old);
      throw e;
    }
    this.state.fill(undefined);
    for (const [i, entry] of entries) {
      const st: Record<string, Tensor | number> = {};
      for (const k of this.stateKeys) {
        const v = entry[k];
        st[k] = typeof v === 'number' ? v : this.flat.slot(k, i).write(v as Float32Array);
      }
      this.state[i] = st as S;
    }
  }

  /** Frees the optimiser's GPU state (the parameters are not touched). */
  dispose(): void {
    this.state.fill(undefined);
    this.flat.dispose();
    this.one?.dispose();
    this.one = null;
  }
}
