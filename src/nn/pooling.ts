import type { Tensor } from '../engine/tensor.js';
import { adaptiveAvgPool2d, maxPool2d } from '../autograd/pool.js';
import { Module } from './module.js';

export class MaxPool2d extends Module {
  constructor(readonly kernel: number, readonly stride = kernel, readonly padding = 0) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernel: this.kernel, stride: this.stride, padding: this.padding });
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outSize: number | [number, number] = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outSize);
  }
}
