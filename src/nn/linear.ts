import { Tensor } from '../engine/tensor.js';
import { matmul, reshape } from '../autograd/ops.js';
import { DEFAULT_INIT, type LayerInit } from './init.js';
import { Module } from './module.js';

/** y = x W^T + b over the last dim; W (out, in), as nn.Linear. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, { bias = true, init = DEFAULT_INIT as LayerInit } = {}) {
    super();
    this.weight = this.registerParameter('weight', init.weight([outFeatures, inFeatures], inFeatures));
    this.bias = bias ? this.registerParameter('bias', init.bias([outFeatures], inFeatures)) : null;
  }

  /** With `relu`, the activation is fused into the matmul. */
  forward(x: Tensor, { relu = false } = {}): Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.ndim === 2 ? x : reshape(x, [-1, this.inFeatures]);
    const y = matmul(x2, this.weight, { transB: true, bias: this.bias, relu });
    return x.ndim === 2 ? y : reshape(y, [...lead, this.outFeatures]);
  }
}
