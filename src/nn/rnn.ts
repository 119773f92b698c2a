import type { Tensor } from '../engine/tensor.js';
import { lstm, type LstmParams } from '../autograd/lstm.js';
import { uniform } from './init.js';
import { Module } from './module.js';

/**
 * nn.LSTM(inputSize, hidden, layers, batch_first=True, bidirectional): parameters
 * weight_ih_l{k}[_reverse] (4H, In), weight_hh_l{k}[_reverse] (4H, H), bias_ih, bias_hh,
 * gate order i, f, g, o. Zero initial states; returns the output sequence (N, T, D*H).
 */
export class LSTM extends Module {
  private readonly cells: LstmParams[] = [];

  constructor(readonly inputSize: number, readonly hidden: number, readonly layers = 1, readonly bidirectional = false) {
    super();
    const bound = 1 / Math.sqrt(hidden); // NOTE: every LSTM weight ~ U(-1/sqrt(H), 1/sqrt(H)), as PyTorch
    const D = bidirectional ? 2 : 1;
    for (let k = 0; k < layers; k++) {
      for (let d = 0; d < D; d++) {
        const sfx = `_l${k}${d ? '_reverse' : ''}`;
        const inK = k === 0 ? inputSize : D * hidden;
        this.cells.push({
          wIh: this.registerParameter(`weight_ih${sfx}`, uniform([4 * hidden, inK], bound)),
          wHh: this.registerParameter(`weight_hh${sfx}`, uniform([4 * hidden, hidden], bound)),
          bIh: this.registerParameter(`bias_ih${sfx}`, uniform([4 * hidden], bound)),
          bHh: this.registerParameter(`bias_hh${sfx}`, uniform([4 * hidden], bound)),
        });
      }
    }
  }

  forward(x: Tensor): Tensor {
    return lstm(x, this.cells, { hidden: this.hidden, layers: this.layers, bidirectional: this.bidirectional });
  }
}
