// Evaluation over a loader: loss, accuracy, confusion matrix, precision and recall, in
// eval mode without recording (train's validation and the `eval` command).

import { Tensor, tidy } from '../engine/tensor.js';
import { pace } from '../engine/runtime.js';
import { noGrad } from '../autograd/tape.js';
import { Metrics, type MetricsReport } from '../autograd/metrics.js';
import type { DataLoader } from '../data/loader.js';
import type { Dataset } from '../data/datasets.js';
import type { Module } from '../nn/module.js';

/** Loss, accuracy, confusion matrix, precision and recall over a dataset, in eval mode. */
export async function evaluate(model: Module, loader: DataLoader, numClasses: number): Promise<MetricsReport> {
  model.eval();
  const ds: Dataset = loader.dataset;
  const metrics = new Metrics(numClasses, { confusion: true });
  try {
    for await (const batch of loader.epoch(0)) {
      if (batch.n === 0) continue;
      noGrad(() => tidy(() => {
        const x = Tensor.from(batch.x, [batch.n, ds.channels, ds.height, ds.width]);
        metrics.update(model.forward(x), Tensor.from(batch.y, [batch.n], 'i32'));
      }));
      await pace();
    }
    return await metrics.read();
  } finally {
    metrics.dispose();
    model.train();
  }
}
