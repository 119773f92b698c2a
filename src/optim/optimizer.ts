// The base of the optimisers: the parameters, the learning rate (a plain number that may
// change every step: kernels take it as a param), per-parameter state created on a
// parameter's first update (GPU tensors and step counts), zeroGrad, and state dicts in
// PyTorch's layout: { state: { [index]: { key: Float32Array | number } }, param_groups }.

import { Tensor } from '../engine/tensor.js';
import { full } from '../engine/shaders/elementwise.js';

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
  /** Keys every per-parameter state holds (checked on load). */
  protected abstract readonly stateKeys: readonly (keyof S & string)[];
  private one: Tensor | null = null;

  /** `chunkElems` caps the elements one binding covers (tests lower it to force chunking). */
  constructor(params: readonly Tensor[], lr: number, protected readonly chunkElems?: number) {
    if (!(lr >= 0)) throw new Error(`invalid learning rate: ${lr}`);
    if (new Set(params).size !== params.length) throw new Error('some parameters appear more than once');
    this.params = [...params];
    this.lr = lr;
    this.state = new Array(params.length).fill(undefined);
  }

  /** Drops every gradient (PyTorch's zero_grad(set_to_none=True)), freeing it. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Updates, in place on the GPU, every parameter that has a gradient; the others are untouched. */
  step(opts: StepOptions = {}): void {
    const scale = opts.gradScale ?? (this.one ??= full([1], 1).keep());
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g) return;
      if (g.size !== p.size) throw new Error(`parameter ${i}: gradient of shape [${g.shape}] for shape [${p.shape}]`);
      this.update(i, p, g, scale);
    });
  }

  protected abstract update(i: number, p: Tensor, g: Tensor, scale: Tensor): void;
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

  /** Replaces the state and hyper-parameters with those of `sd` (copied to the GPU). */
  loadStateDict(sd: OptimizerStateDict): void {
    const group = sd.param_groups[0];
    if (sd.param_groups.length !== 1 || group.params.length !== this.params.length) {
      throw new Error(`loadStateDict: expected one group of ${this.params.length} parameters`);
    }
    const old = this.hyper();
    for (const k of Object.keys(old)) if (typeof group[k] !== typeof old[k]) throw new Error(`loadStateDict: param_groups[0] lacks '${k}'`);
    const next: (S | undefined)[] = new Array(this.params.length).fill(undefined);
    try {
      for (const [key, entry] of Object.entries(sd.state)) {
        const i = Number(key);
        const p = this.params[i];
        if (!p) throw new Error(`loadStateDict: no parameter ${key}`);
        const st: Record<string, Tensor | number> = {};
        next[i] = st as S;
        for (const k of this.stateKeys) {
          const v = entry[k];
          if (typeof v === 'number') st[k] = v;
          else if (v instanceof Float32Array && v.length === p.size) st[k] = Tensor.from(v, p.shape).keep();
          else throw new Error(`loadStateDict: parameter ${i} needs '${k}' (a number or ${p.size} floats)`);
        }
      }
    } catch (e) {
      disposeState(next);
      throw e;
    }
    try {
      this.setHyper(group);
    } catch (e) {
      this.setHyper(old);
      disposeState(next);
      throw e;
    }
    disposeState(this.state);
    this.state = next;
  }

  /** Frees the optimiser's GPU state (the parameters are not touched). */
  dispose(): void {
    disposeState(this.state);
    this.state.fill(undefined);
    this.one?.dispose();
    this.one = null;
  }
}

function disposeState(states: (Record<string, Tensor | number> | undefined)[]): void {
  for (const st of states) if (st) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
}
