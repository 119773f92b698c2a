// Adam (torch.optim.Adam, not AdamW): one fused kernel updates p, exp_avg and exp_avg_sq
// in place for all parameters (a dispatch per arena window and distinct step count); lr
// and the step count are params, so changing them compiles nothing.

import { Tensor } from '../engine/tensor.js';
import { adamParams, updatePieces } from '../engine/shaders/optim.js';
import { Optimizer, type Hyper } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** L2 penalty added to the gradient (as torch.optim.Adam). */
  weightDecay?: number;
}

type AdamState = { step: number; exp_avg: Tensor; exp_avg_sq: Tensor };

export class Adam extends Optimizer<AdamState> {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  protected readonly stateKeys = ['step', 'exp_avg', 'exp_avg_sq'] as const;
  protected override readonly countKeys = ['step'];

  constructor(params: readonly Tensor[], o: AdamOptions = {}) {
    super(params, o.lr ?? 1e-3);
    [this.beta1, this.beta2] = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.validate();
  }

  private validate(): void {
    for (const b of [this.beta1, this.beta2]) if (!(b >= 0 && b < 1)) throw new Error(`invalid beta: ${b}`);
    if (!(this.eps >= 0)) throw new Error(`invalid epsilon: ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`invalid weight decay: ${this.weightDecay}`);
  }

  protected update(active: Uint8Array, scale: Tensor): void {
    // NOTE: the step count is per parameter, as PyTorch: it starts at a parameter's first
    // gradient. Parameters are updated in groups of one step count (usually one group).
    const groups = new Map<number, Uint8Array>();
    active.forEach((a, i) => {
      if (!a) return;
      const st = (this.state[i] ??= { step: 0, ...this.stateSlots(i, ['exp_avg', 'exp_avg_sq'], true) } as AdamState);
      st.step++;
      let members = groups.get(st.step);
      if (!members) groups.set(st.step, (members = new Uint8Array(active.length)));
      members[i] = 1;
    });
    for (const [step, members] of groups) {
      const h = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step };
      const pieces = this.flat.pieces(members, { G: 'G', P: 'P', M: 'exp_avg', V: 'exp_avg_sq' }, 'update');
      updatePieces('adam', pieces, scale, adamParams(h));
    }
  }

  protected hyper(): Hyper {
    return { lr: this.lr, betas: [this.beta1, this.beta2], eps: this.eps, weight_decay: this.weightDecay };
  }

  protected setHyper(h: Hyper): void {
    this.lr = h.lr as number;
    [this.beta1, this.beta2] = h.betas as number[];
    this.eps = h.eps as number;
    this.weightDecay = h.weight_decay as number;
    this.validate();
  }
}
