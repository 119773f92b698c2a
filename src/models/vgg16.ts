// The seed's VGG16: 13 3x3 convolutions in five blocks, each closed by 2x2 max-pooling,
// then its classifier 25088 -> 512 -> 128 -> classes (at 224).

import type { Tensor } from '../engine/tensor.js';
import { flatten } from '../autograd/ops.js';
import { ReLU } from '../nn/activation.js';
import { Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import type { ImageConfig } from './common.js';

export interface Vgg16Config extends ImageConfig {
  /** Channels of the first block (64); blocks use 1, 2, 4, 8, 8 times it. */
  width: number;
  hidden: [number, number];
  dropout: number;
}

const BLOCKS = [[1, 1], [2, 2], [4, 4, 4], [8, 8, 8], [8, 8, 8]];

export class VGG16 extends Module {
  readonly features: Sequential;
  readonly classifier: Sequential;

  constructor(readonly config: Vgg16Config) {
    super();
    const { imageSize: S, channels, numClasses, width: w, hidden: [a, b], dropout } = config;
    if (S % 32 !== 0) throw new Error(`vgg16 needs an image size divisible by 32, got ${S}`);
    const layers: Module[] = [];
    let c = channels;
    for (const block of BLOCKS) {
      for (const m of block) {
        layers.push(new Conv2d(c, m * w, 3, { padding: 1 }), new ReLU());
        c = m * w;
      }
      layers.push(new MaxPool2d(2, 2));
    }
    // NOTE: each conv and Linear takes its ReLU into its own kernel (fuseReLU); the ReLUs keep their indices.
    this.features = this.registerModule('features', new Sequential(...layers).fuseReLU());
    const side = S / 32;
    this.classifier = this.registerModule('classifier', new Sequential(
      new Linear(c * side * side, a), new ReLU(), new Dropout(dropout),
      new Linear(a, b), new ReLU(), new Dropout(dropout),
      new Linear(b, numClasses),
    ).fuseReLU());
  }

  forward(x: Tensor): Tensor {
    return this.classifier.forward(flatten(this.features.forward(x)));
  }
}
