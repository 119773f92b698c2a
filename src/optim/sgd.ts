// SGD with optional momentum (torch.optim.SGD): one fused kernel per parameter tensor;
// the momentum buffer is created on a parameter's first update and set to its gradient.

import { Tensor } from '../engine/tensor.js';
import { sgdUpdate } from '../engine/shaders/optim.js';
import { Optimizer, type Hyper } from './optimizer.js';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  chunkElems?: number;
}

type SGDState = { momentum_buffer: Tensor };

export class SGD extends Optimizer<SGDState> {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  protected readonly stateKeys = ['momentum_buffer'] as const;

  constructor(params: readonly Tensor[], o: SGDOptions = {}) {
    super(params, o.lr ?? 1e-3, o.chunkElems);
    this.momentum = o.momentum ?? 0;
    this.dampening = o.dampening ?? 0;
    this.weightDecay = o.weightDecay ?? 0;
    this.nesterov = o.nesterov ?? false;
    this.validate();
  }

  private validate(): void {
    if (!(this.momentum >= 0)) throw new Error(`invalid momentum: ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new Error(`invalid weight decay: ${this.weightDecay}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('Nesterov momentum requires a momentum and zero dampening');
  }

  protected update(i: number, p: Tensor, g: Tensor, scale: Tensor): void {
    const h = { lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov };
    if (this.momentum === 0) return sgdUpdate(p, g, null, scale, h, false, this.chunkElems);
    const first = !this.state[i];
    const st = (this.state[i] ??= { momentum_buffer: Tensor.empty(p.shape).keep() });
    sgdUpdate(p, g, st.momentum_buffer, scale, h, first, this.chunkElems);
  }

  protected hyper(): Hyper {
    return { lr: this.lr, momentum: this.momentum, dampening: this.dampening, weight_decay: this.weightDecay, nesterov: this.nesterov };
  }

  protected setHyper(h: Hyper): void {
    this.lr = h.lr as number;
    this.momentum = h.momentum as number;
    this.dampening = h.dampening as number;
    this.weightDecay = h.weight_decay as number;
    this.nesterov = h.nesterov as boolean;
    this.validate();
  }
}
