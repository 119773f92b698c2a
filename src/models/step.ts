// A classifier's training step as `train` runs it (bench/ and the page run the same
// function): cross-entropy on the logits, backward, clip, optimiser step, whole or in
// micro-batches whose gradients add up to the whole batch's.

import { Tensor, tidy, type Shape } from '../engine/tensor.js';
import { axpy, full } from '../engine/shaders/elementwise.js';
import { backward } from '../autograd/tape.js';
import { crossEntropy } from '../autograd/softmax.js';
import type { Metrics } from '../autograd/metrics.js';
import type { Module } from '../nn/module.js';
import { gradNormScale } from '../optim/clip.js';
import type { Optimizer } from '../optim/optimizer.js';

/** A batch on the host: inputs (N, ...) and i32 labels (N). */
export interface HostBatch {
  x: Float32Array;
  y: Int32Array;
  shape: Shape;
}

/**
 * One training step, inside the caller's tidy(): forward, cross-entropy (the metrics
 * accumulate on the GPU), backward, global-norm clip (`clip` > 0), optimizer step, zero
 * grads. With `microBatch` below the batch size the batch is uploaded and run in slices
 * of that many rows: each slice's loss is weighted by its share of the rows, so the
 * gradients sum to the whole batch's mean loss (BatchNorm statistics are per slice, as
 * with DataParallel). Returns the batch's loss (nothing is read back).
 */
export function trainStep(model: Module, batch: HostBatch, opt: Optimizer<Record<string, Tensor | number>>, clip: number, metrics: Metrics, microBatch = 0): Tensor {
  const n = batch.shape[0];
  const per = batch.x.length / n;
  const m = microBatch > 0 ? Math.min(microBatch, n) : n;
  let total: Tensor | null = null;
  for (let r0 = 0; r0 < n; r0 += m) {
    const rows = Math.min(m, n - r0);
    // a scope per slice: its activations are freed before the next slice runs
    const loss = tidy(() => {
      const x = Tensor.from(batch.x.subarray(r0 * per, (r0 + rows) * per), [rows, ...batch.shape.slice(1)]);
      const y = Tensor.from(batch.y.subarray(r0, r0 + rows), [rows], 'i32');
      const l = crossEntropy(model.forward(x), y, { metrics });
      backward(l, rows === n ? undefined : full([1], rows / n));
      return l;
    });
    if (rows === n) total = loss;
    else {
      total ??= Tensor.zeros([1]);
      axpy(total, loss, rows / n);
    }
  }
  const scale = clip > 0 ? gradNormScale(opt.params, clip).scale : null;
  opt.step({ gradScale: scale });
  opt.zeroGrad();
  return total!;
}
