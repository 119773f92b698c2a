// The seed's LeNet: two 5x5 convolutions with 2x2 max-pooling, then 120, 84 and the logits.

import type { Tensor } from '../engine/tensor.js';
import { flatten } from '../autograd/ops.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import type { ImageConfig } from './common.js';

/** Side of the feature map before fc1: (S - 4) / 2, then (s - 4) / 2 (53 at 224). */
export function lenetFeatureSize(S: number): number {
  return Math.floor((Math.floor((S - 4) / 2) - 4) / 2);
}

export class LeNet extends Module {
  readonly conv1: Conv2d;
  readonly pool: MaxPool2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly fc3: Linear;

  constructor(readonly config: ImageConfig) {
    super();
    const s = lenetFeatureSize(config.imageSize);
    if (s < 1) throw new Error(`lenet needs images of at least 16x16, got ${config.imageSize}`);
    this.conv1 = this.registerModule('conv1', new Conv2d(config.channels, 6, 5));
    this.pool = this.registerModule('pool', new MaxPool2d(2, 2));
    this.conv2 = this.registerModule('conv2', new Conv2d(6, 16, 5));
    this.fc1 = this.registerModule('fc1', new Linear(16 * s * s, 120));
    this.fc2 = this.registerModule('fc2', new Linear(120, 84));
    this.fc3 = this.registerModule('fc3', new Linear(84, config.numClasses));
  }

  forward(x: Tensor): Tensor {
    x = this.pool.forward(this.conv1.forward(x, { relu: true }));
    x = this.pool.forward(this.conv2.forward(x, { relu: true }));
    x = this.fc1.forward(flatten(x), { relu: true });
    x = this.fc2.forward(x, { relu: true });
    return this.fc3.forward(x);
  }
}
