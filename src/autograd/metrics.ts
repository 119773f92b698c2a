// Loss, accuracy and the confusion matrix accumulated on the GPU over an epoch by the
// cross-entropy kernel (src/engine/shaders/softmax.ts), read once at its end.

import { Tensor } from '../engine/tensor.js';
import { crossEntropyForward } from '../engine/shaders/softmax.js';

export interface MetricsReport {
  /** Mean loss over the counted rows. */
  loss: number;
  accuracy: number;
  correct: number;
  count: number;
  /** Rows whose label was outside [0, K) (and not ignoreIndex): 0 unless the data is wrong. */
  badLabels: number;
  /** (K,K) counts, rows = true class, columns = predicted; with per-class precision and recall. */
  confusion?: Int32Array;
  precision?: number[];
  recall?: number[];
}

/**
 * Loss and accuracy (and optionally a confusion matrix) accumulated on the GPU over
 * many batches, read once per epoch. NOTE: the counts are f32, exact to 2^24 rows.
 */
export class Metrics {
  /** f32 (4): [sum of row losses, correct, counted rows, bad labels]. */
  acc: Tensor;
  /** i32 (K,K), when asked for. */
  confusion: Tensor | null;

  constructor(readonly numClasses: number, { confusion = false } = {}) {
    const z = zeroCounts(numClasses, confusion);
    this.acc = z.acc;
    this.confusion = z.confusion;
  }

  /** Adds a batch (no gradient); crossEntropy(..., { metrics }) does this for free. */
  update(logits: Tensor, labels: Tensor, ignoreIndex = -100): void {
    if (logits.shape[1] !== this.numClasses) throw new Error(`metrics for ${this.numClasses} classes given logits [${logits.shape}]`);
    const { y, saved } = crossEntropyForward(logits, labels, { ignoreIndex, acc: this.acc, confusion: this.confusion });
    y.dispose();
    saved.lse.dispose();
  }

  async read(): Promise<MetricsReport> {
    const [sumLoss, correct, count, badLabels] = await this.acc.read();
    const r: MetricsReport = { loss: sumLoss / count, accuracy: correct / count, correct, count, badLabels };
    if (this.confusion) {
      const cm = (await this.confusion.read()) as Int32Array;
      const k = this.numClasses;
      const col = (j: number) => Array.from({ length: k }, (_, i) => cm[i * k + j]).reduce((a, b) => a + b, 0);
      const row = (i: number) => cm.subarray(i * k, i * k + k).reduce((a, b) => a + b, 0);
      r.confusion = cm;
      // NOTE: 0 where a class was never predicted (or never present), as torchmetrics' zero_division=0.
      const ratio = (a: number, b: number) => (b ? a / b : 0);
      r.precision = Array.from({ length: k }, (_, c) => ratio(cm[c * k + c], col(c)));
      r.recall = Array.from({ length: k }, (_, c) => ratio(cm[c * k + c], row(c)));
    }
    return r;
  }

  /** Zeroes the counts (fresh tensors: ordered after every update already recorded). */
  reset(): void {
    const z = zeroCounts(this.numClasses, this.confusion !== null);
    this.dispose();
    this.acc = z.acc;
    this.confusion = z.confusion;
  }

  dispose(): void {
    this.acc.dispose();
    this.confusion?.dispose();
  }
}

function zeroCounts(k: number, confusion: boolean): { acc: Tensor; confusion: Tensor | null } {
  return {
    acc: Tensor.zeros([4]).keep(),
    confusion: confusion ? Tensor.zeros([k, k], 'i32').keep() : null,
  };
}
