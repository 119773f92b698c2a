import { Tensor } from '../engine/tensor.js';
import { batchNorm } from '../autograd/norm.js';
import { constant } from './init.js';
import { HostInt, Module } from './module.js';

/** nn.BatchNorm2d: weight, bias, running_mean, running_var, num_batches_tracked. */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: HostInt;

  constructor(readonly numFeatures: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    this.weight = this.registerParameter('weight', constant([numFeatures], 1));
    this.bias = this.registerParameter('bias', constant([numFeatures], 0));
    this.runningMean = this.registerBuffer('running_mean', constant([numFeatures], 0));
    this.runningVar = this.registerBuffer('running_var', constant([numFeatures], 1));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', new HostInt(0));
  }

  forward(x: Tensor): Tensor {
    // NOTE: training updates the running stats in place (momentum 0.1, unbiased variance), as PyTorch.
    if (this.training) this.numBatchesTracked.value++;
    return batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, { training: this.training, momentum: this.momentum, eps: this.eps });
  }
}
