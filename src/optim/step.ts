// One training step as `train` runs it (bench/ times the same function).

import type { Tensor } from '../engine/tensor.js';
import { backward } from '../autograd/tape.js';
import { crossEntropy, type Metrics } from '../autograd/loss.js';
import type { Module } from '../nn/module.js';
import { gradNormScale } from './clip.js';
import type { Optimizer } from './optimizer.js';

/**
 * One training step, inside the caller's tidy(): forward, cross-entropy (the metrics
 * accumulate on the GPU), backward, global-norm clip (`clip` > 0), optimizer step, zero
 * grads. Returns the loss (nothing is read back).
 */
export function trainStep(model: Module, x: Tensor, y: Tensor, opt: Optimizer<Record<string, Tensor | number>>, clip: number, metrics: Metrics): Tensor {
  const loss = crossEntropy(model.forward(x), y, { metrics });
  backward(loss);
  const scale = clip > 0 ? gradNormScale(opt.params, clip).scale : null;
  opt.step({ gradScale: scale });
  opt.zeroGrad();
  return loss;
}
