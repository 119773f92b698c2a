// Differentiable normalisation: batch_norm (training updates the running stats in
// place) and layer_norm over the last dim.

import { Tensor } from '../engine/tensor.js';
import { batchNormBackward, batchNormForward, layerNormBackward, layerNormForward, type BatchNormOpts } from '../engine/shaders/norm.js';
import { record } from './tape.js';

export type { BatchNormOpts } from '../engine/shaders/norm.js';

/** The gradient of an optional input: null (and freed) when the input was not given. */
function given(input: Tensor | null, grad: Tensor): Tensor | null {
  if (input) return grad;
  grad.dispose();
  return null;
}

/**
 * batch_norm on (N,C) or (N,C,...) per channel, as torch.nn.functional.batch_norm.
 * Training (or no running stats): batch statistics, and runningMean/runningVar (C)
 * updated in place when given (the caller counts num_batches_tracked). Eval: running stats.
 */
export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null, opts: BatchNormOpts): Tensor {
  const { y, saved } = batchNormForward(x, weight, bias, runningMean, runningVar, opts); // saved.stats (2,C): mean, invstd
  return record(y, [x, weight, bias], (dy) => {
    const g = batchNormBackward(dy, saved, x, weight);
    return [g.dx, given(weight, g.dweight), given(bias, g.dbias)];
  }, [saved.stats]);
}

/** layer_norm over the last dim (weight and bias of that size, or null); eps 1e-5 as PyTorch, 1e-12 for HF ViT. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const { y, saved } = layerNormForward(x, weight, bias, eps); // saved.stats (2,R): mean, rstd
  return record(y, [x, weight, bias], (dy) => {
    const g = layerNormBackward(dy, saved, x, weight);
    return [g.dx, given(weight, g.dweight), given(bias, g.dbias)];
  }, [saved.stats]);
}
