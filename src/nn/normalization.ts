import type { Tensor } from '../engine/tensor.js';
import { layerNorm } from '../autograd/norm.js';
import { constant } from './init.js';
import { Module } from './module.js';

/** nn.LayerNorm over the last dimension. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly normalizedShape: number, readonly eps = 1e-5) {
    super();
    this.weight = this.registerParameter('weight', constant([normalizedShape], 1));
    this.bias = this.registerParameter('bias', constant([normalizedShape], 0));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
