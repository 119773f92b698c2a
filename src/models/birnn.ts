// The seed's BiRNN: image rows as time steps (each row's channels side by side), a
// multi-layer bidirectional LSTM, dropout, and a Linear on the last step's output.

import type { Tensor } from '../engine/tensor.js';
import { permute, reshape, slice } from '../autograd/ops.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LSTM } from '../nn/rnn.js';
import type { ImageConfig } from './common.js';

export interface BiRnnConfig extends ImageConfig {
  hidden: number;
  layers: number;
  dropout: number;
}

export class BiRNN extends Module {
  readonly lstm: LSTM;
  readonly fc: Linear;
  readonly dropout: Dropout;

  constructor(readonly config: BiRnnConfig) {
    super();
    const { imageSize: S, channels: C, numClasses, hidden, layers, dropout } = config;
    this.lstm = this.registerModule('lstm', new LSTM(C * S, hidden, layers, true));
    this.fc = this.registerModule('fc', new Linear(2 * hidden, numClasses));
    this.dropout = this.registerModule('dropout', new Dropout(dropout));
  }

  forward(x: Tensor): Tensor {
    const [N, C, H, W] = x.shape;
    // [N, C, H, W] -> [N, H, C, W] -> [N, H, C*W], as the seed
    const seq = reshape(permute(x, [0, 2, 1, 3]), [N, H, C * W]);
    const out = this.lstm.forward(seq); // (N, T, 2H)
    const D = out.shape[2];
    const last = reshape(slice(out, [0, H - 1, 0], [N, 1, D]), [N, D]);
    return this.fc.forward(this.dropout.forward(last));
  }
}
