// Adam (torch.optim.Adam, not AdamW): one fused kernel per parameter tensor updates
// p, exp_avg and exp_avg_sq in place; lr and the step count are params, so changing
// them compiles nothing.

import { Tensor } from '../engine/tensor.js';
import { adamUpdate, zeros } from '../engine/shaders/optim.js';
import { Optimizer, type Hyper } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** L2 penalty added to the gradient (as torch.optim.Adam). */
  weightDecay?: number;
  chunkElems?: number;
}

type AdamState = { step: number; exp_avg: Tensor; exp_avg_sq: Tensor };

export class Adam extends Optimizer<AdamState> {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  protected readonly stateKeys = ['step', 'exp_avg', 'exp_avg_sq'] as const;

  constructor(params: readonly Tensor[], o: AdamOptions = {}) {
    super(params, o.lr ?? 1e-3, o.chunkElems);
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

  protected update(i: number, p: Tensor, g: Tensor, scale: Tensor): void {
    // NOTE: the step count is per parameter, as PyTorch: it starts at a parameter's first gradient.
    const st = (this.state[i] ??= { step: 0, exp_avg: zeros(p.shape).keep(), exp_avg_sq: zeros(p.shape).keep() });
    st.step++;
    const h = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: st.step };
    adamUpdate(p, g, st.exp_avg, st.exp_avg_sq, scale, h, this.chunkElems);
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
