// SGD with optional momentum (torch.optim.SGD): one fused kernel for all parameters (a
// dispatch per arena window); the momentum buffer is created on a parameter's first update
// and set to its gradient.

import { Tensor } from '../engine/tensor.js';
import { sgdParams, updatePieces } from '../engine/shaders/optim.js';
import { Optimizer, type Hyper } from './optimizer.js';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

type SGDState = { momentum_buffer: Tensor };

export class SGD extends Optimizer<SGDState> {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  protected readonly stateKeys = ['momentum_buffer'] as const;

  constructor(params: readonly Tensor[], o: SGDOptions = {}) {
    super(params, o.lr ?? 1e-3);
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

  protected update(active: Uint8Array, scale: Tensor): void {
    const h = { lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov };
    if (this.momentum === 0) {
      const { kind, params } = sgdParams(h, false);
      return updatePieces(kind, this.flat.pieces(active, { G: 'G', P: 'P' }, 'update'), scale, params);
    }
    // two groups: parameters on their first momentum step (B = d) and the others
    const first = new Uint8Array(active.length), later = new Uint8Array(active.length);
    active.forEach((a, i) => {
      if (!a) return;
      (this.state[i] ? later : first)[i] = 1;
      this.state[i] ??= this.stateSlots(i, ['momentum_buffer'], false) as SGDState;
    });
    for (const [members, isFirst] of [[first, true], [later, false]] as const) {
      if (!members.includes(1)) continue;
      const { kind, params } = sgdParams(h, isFirst);
      updatePieces(kind, this.flat.pieces(members, { G: 'G', P: 'P', B: 'momentum_buffer' }, 'update'), scale, params);
    }
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
