// One pass over the training data: a training step per batch (the loss and accuracy
// accumulate on the GPU), progress, and each step's loss read back now and then and
// checked, a non-finite one stopping the run.

import { Tensor, tidy } from '../engine/tensor.js';
import { pace } from '../engine/runtime.js';
import { stridedCopy } from '../engine/shaders/layout.js';
import { Metrics, type MetricsReport } from '../autograd/metrics.js';
import type { DataLoader } from '../data/loader.js';
import type { Module } from '../nn/module.js';
import { trainStep } from '../models/step.js';
import type { Adam, SGD } from '../optim/index.js';
import { Progress } from './progress.js';
import { StopTraining } from './interrupt.js';

export interface EpochResult {
  metrics: MetricsReport;
  images: number;
  seconds: number;
  skipped: number;
  partial: boolean;
  /** Each step's loss (of the steps this run made). */
  losses: number[];
  step: number; // steps of the epoch done (counting those of a resumed start)
}

export interface EpochOptions {
  epoch: number;
  epochs: number;
  clip: number;
  microBatch: number;
  json: boolean;
  /** The step to start at (a resumed epoch). */
  first: number;
  /** Asked between steps: stop now (Ctrl-C). */
  stop: () => boolean;
  /** Told of each step; true: that was the last (--max-steps). */
  count: (n: number) => boolean;
}

/** One pass over the training data (from step `first` of a resumed epoch); loss and accuracy accumulate on the GPU. */
export async function trainEpoch(model: Module, loader: DataLoader, opt: Adam | SGD, o: EpochOptions): Promise<EpochResult> {
  const { epoch, first, stop } = o;
  model.train();
  const ds = loader.dataset;
  const metrics = new Metrics(ds.classes.length);
  const history = Tensor.empty([loader.length]).keep(); // each step's loss, read at progress checks
  const progress = new Progress(o, `epoch ${epoch + 1}/${o.epochs}`, loader.length, ds.length);
  let images = 0, skipped = 0, step = first, partial = false;
  const losses: number[] = [];
  const t0 = performance.now();
  try {
    for await (const batch of loader.epoch(epoch, first)) {
      skipped += batch.skipped.length;
      if (batch.n === 0) continue;
      tidy(() => {
        const loss = trainStep(model, { x: batch.x, y: batch.y, shape: [batch.n, ds.channels, ds.height, ds.width] }, opt, o.clip, metrics, o.microBatch);
        stridedCopy(loss, history, [1], [1], [1], 0, step);
      });
      await pace();
      step++;
      images += batch.n;
      const done = o.count(1);
      if (progress.due() || done || stop()) {
        losses.push(...(await checkedLosses(history, first + losses.length, step, epoch)));
        progress.update(step, images, losses.at(-1)!);
      }
      if (done || stop()) {
        partial = step < loader.length;
        break;
      }
      // let signal handlers run: batches already in memory never wait on an event
      await new Promise((r) => setImmediate(r));
    }
    losses.push(...(await checkedLosses(history, first + losses.length, step, epoch)));
    const report = await metrics.read();
    progress.end();
    return { metrics: report, images, seconds: (performance.now() - t0) / 1e3, skipped, partial, losses, step };
  } finally {
    metrics.dispose();
    history.dispose();
  }
}

/** The losses of steps [from, to), read back; a non-finite one stops training, naming its step. */
async function checkedLosses(history: Tensor, from: number, to: number, epoch: number): Promise<number[]> {
  if (to <= from) return [];
  const losses = Array.from((await history.read()).subarray(from, to));
  const bad = losses.findIndex((l) => !Number.isFinite(l));
  if (bad >= 0) throw new StopTraining(`loss became ${losses[bad]} at epoch ${epoch + 1}, step ${from + bad + 1}: stopped; the best checkpoint is kept`, 1);
  return losses;
}
