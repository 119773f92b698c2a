import type { Tensor } from '../engine/tensor.js';
import { flatten, gelu, relu } from '../autograd/ops.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** NOTE: exact (erf) GELU, as nn.GELU() and HF ViT's "gelu". */
export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return gelu(x);
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }
}
