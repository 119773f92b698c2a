// The seed's DNN: flatten, 256 and 128 hidden units with ReLU and dropout, then the logits.
// NOTE: unlike the seed, no ReLU on the logits (it left the seed's model with dead outputs).

import type { Tensor } from '../engine/tensor.js';
import { flatten } from '../autograd/ops.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import type { ImageConfig } from './common.js';

export interface DnnConfig extends ImageConfig {
  hidden: [number, number];
  dropout: number;
}

export class DNN extends Module {
  readonly layer1: Linear;
  readonly dropout1: Dropout;
  readonly layer2: Linear;
  readonly dropout2: Dropout;
  readonly layer3: Linear;

  constructor(readonly config: DnnConfig) {
    super();
    const { imageSize: S, channels: C, numClasses, hidden: [h1, h2], dropout } = config;
    this.layer1 = this.registerModule('layer1', new Linear(C * S * S, h1));
    this.dropout1 = this.registerModule('dropout1', new Dropout(dropout));
    this.layer2 = this.registerModule('layer2', new Linear(h1, h2));
    this.dropout2 = this.registerModule('dropout2', new Dropout(dropout));
    this.layer3 = this.registerModule('layer3', new Linear(h2, numClasses));
  }

  forward(x: Tensor): Tensor {
    let h = this.dropout1.forward(this.layer1.forward(flatten(x), { relu: true }));
    h = this.dropout2.forward(this.layer2.forward(h, { relu: true }));
    return this.layer3.forward(h);
  }
}
