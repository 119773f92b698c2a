// How many rows of a batch run at once: the whole batch when it fits, else the most
// rows whose largest tensor fits the adapter's buffers and whose activations fit the
// memory budget (measured by one eval-mode forward of a single row).

import { gpu } from '../engine/device.js';
import { config } from '../engine/config.js';
import { memory, resetPeaks } from '../engine/runtime.js';
import { Tensor, tidy } from '../engine/tensor.js';
import { noGrad } from '../autograd/tape.js';
import type { Module } from '../nn/module.js';

export interface MicroBatchChoice {
  rows: number;
  /** Why the batch is split, for the one line train prints; null when it is not. */
  reason: string | null;
}

const MB = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 24 ? 1 : 0)} MB`;

/**
 * Rows per micro-batch for `batch` rows of `sample` (C,H,W): a forward of one row (no
 * gradient, every activation kept, as training keeps them for backward) gives its bytes
 * and its largest tensor. Training holds about 3x the forward's activations (saved
 * values, their gradients, temporaries), so rows <= budget / (3 x bytes per row), and
 * rows x largest <= the adapter's largest buffer and storage binding.
 */
export function chooseMicroBatch(model: Module, sample: readonly number[], batch: number, budget: number): MicroBatchChoice {
  const wasTraining = model.training;
  model.eval();
  const live0 = memory.live;
  resetPeaks();
  noGrad(() => tidy(() => {
    model.forward(Tensor.zeros([1, ...sample]));
  }));
  const perRow = Math.max(1, memory.peakLive - live0), largest = Math.max(1, memory.largest);
  if (wasTraining) model.train();
  const hold = Math.min(gpu().limits.maxBufferSize, config().maxBindingBytes);
  const byBuffer = Math.floor(hold / largest);
  const byMemory = Math.floor(Math.max(0, budget - live0) / (3 * perRow));
  const rows = Math.max(1, Math.min(batch, byBuffer, byMemory));
  if (rows >= batch) return { rows: batch, reason: null };
  const why = byBuffer <= byMemory
    ? `a row's largest tensor is ${MB(largest)} and this adapter's buffers and bindings hold ${MB(hold)}`
    : `a row's activations take about ${MB(3 * perRow)} in training and the memory budget is ${MB(budget)} (--memory-limit)`;
  return { rows, reason: why };
}
