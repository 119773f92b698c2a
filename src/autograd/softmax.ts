// The softmax family as differentiable ops: softmax, log_softmax and fused cross-entropy
// (each forward with its backward; kernels in src/engine/shaders/softmax.ts).

import { Tensor } from '../engine/tensor.js';
import { crossEntropyBackward, crossEntropyForward, softmaxBackward, softmaxForward } from '../engine/shaders/softmax.js';
import type { Metrics } from './metrics.js';
import { record } from './tape.js';

/** softmax over the last dim. */
export function softmax(x: Tensor): Tensor {
  const y = softmaxForward(x, false);
  return record(y, [x], (dy) => [softmaxBackward(dy, y, false)]);
}

/** log_softmax over the last dim. */
export function logSoftmax(x: Tensor): Tensor {
  const y = softmaxForward(x, true);
  return record(y, [x], (dy) => [softmaxBackward(dy, y, true)]);
}

export interface CrossEntropyOptions {
  /** 'mean' (default, over the rows not ignored, as PyTorch) or 'sum'. */
  reduction?: 'mean' | 'sum';
  /** Rows with this label add nothing (default -100, as PyTorch). */
  ignoreIndex?: number;
  /** Also accumulate this batch into these metrics, in the same kernel. */
  metrics?: Metrics;
}

/**
 * Cross-entropy of logits (N,K) against i32 class labels (N): a scalar. Labels outside
 * [0, K) other than ignoreIndex are skipped like ignored ones and counted as bad by
 * `metrics` (check `badLabels` once per epoch).
 */
export function crossEntropy(logits: Tensor, labels: Tensor, o: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = o.ignoreIndex ?? -100;
  const { y, saved } = crossEntropyForward(logits, labels, {
    reduction: o.reduction,
    ignoreIndex,
    acc: o.metrics?.acc,
    confusion: o.metrics?.confusion,
  });
  return record(y, [logits], (dy) => [crossEntropyBackward(dy, saved, logits, labels, ignoreIndex)], [saved.lse]);
}
