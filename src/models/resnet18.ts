// torchvision's resnet18 (same module names, so its weights load by key), with the
// final fc sized to the classes; fine-tuned with the backbone frozen by default.

import type { Tensor } from '../engine/tensor.js';
import { add, flatten, relu } from '../autograd/ops.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { ReLU } from '../nn/activation.js';
import type { ImageConfig } from './common.js';

export interface ResNet18Config extends ImageConfig {
  /** Channels of layer1 (64); layers 2-4 double it each. */
  width: number;
}

class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inC: number, outC: number, stride: number) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inC, outC, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(outC));
    this.relu = this.registerModule('relu', new ReLU());
    this.conv2 = this.registerModule('conv2', new Conv2d(outC, outC, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outC));
    this.downsample = stride !== 1 || inC !== outC
      ? this.registerModule('downsample', new Sequential(new Conv2d(inC, outC, 1, { stride, bias: false }), new BatchNorm2d(outC)))
      : null;
  }

  forward(x: Tensor): Tensor {
    const h = this.bn2.forward(this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x)))));
    return relu(add(h, this.downsample ? this.downsample.forward(x) : x));
  }
}

export class ResNet18 extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layers: Sequential[];
  readonly avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  constructor(readonly config: ResNet18Config) {
    super();
    const { channels, numClasses, width: w } = config;
    this.conv1 = this.registerModule('conv1', new Conv2d(channels, w, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(w));
    this.relu = this.registerModule('relu', new ReLU());
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, 2, 1));
    this.layers = [1, 2, 4, 8].map((m, i) => {
      const inC = i === 0 ? w : (m / 2) * w;
      const stride = i === 0 ? 1 : 2;
      return this.registerModule(`layer${i + 1}`, new Sequential(new BasicBlock(inC, m * w, stride), new BasicBlock(m * w, m * w, 1)));
    });
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(8 * w, numClasses));
  }

  forward(x: Tensor): Tensor {
    x = this.maxpool.forward(relu(this.bn1.forward(this.conv1.forward(x))));
    for (const layer of this.layers) x = layer.forward(x);
    return this.fc.forward(flatten(this.avgpool.forward(x)));
  }
}
