// `train`: the seed's training loop. For each epoch: train (Adam or SGD, gradient
// clipping), validate, step ReduceLROnPlateau on the validation loss, save the best
// checkpoint (by validation accuracy) and the last one with the optimiser state.

import type { MetricsReport } from '../autograd/metrics.js';
import { saveCheckpoint } from '../io/checkpoint_file.js';
import type { Adam, ReduceLROnPlateau, SGD } from '../optim/index.js';
import { trainEpoch, type EpochResult } from './epoch.js';
import { evaluate } from './evaluate.js';
import { catchInterrupt, StopTraining } from './interrupt.js';
import { saveLast } from './last_checkpoint.js';
import { formatEpoch, log, type EpochRecord } from './progress.js';
import { setUpTraining, type TrainOptions } from './train_setup.js';

export { StopTraining } from './interrupt.js';
export type { TrainOptions } from './train_setup.js';
export type { EpochRecord } from './progress.js';

export async function train(o: TrainOptions): Promise<EpochRecord[]> {
  const run = await setUpTraining(o);
  if (!run) return [];
  const { data, model, opt, scheduler, trainLoader, valLoader, lastPath, bestPath, meta } = run;
  const interrupt = catchInterrupt();
  const records: EpochRecord[] = [];
  let steps = 0, bestAcc = run.bestAcc;
  const stepLimit = () => o.maxSteps !== undefined && steps >= o.maxSteps;
  try {
    for (let epoch = run.startEpoch; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      const r = await trainEpoch(model, trainLoader, opt, {
        epoch, epochs: o.epochs, clip: o.clip, microBatch: run.microBatch, json: o.json,
        first: epoch === run.startEpoch ? run.startStep : 0, stop: interrupt.requested, count: (n) => ((steps += n), stepLimit()),
      });
      if (interrupt.requested() && r.partial) {
        await saveLast(lastPath, model, opt, scheduler, meta, epoch, bestAcc, r.step);
        throw new StopTraining(`interrupted in epoch ${epoch + 1} at step ${r.step}: last checkpoint written to ${lastPath} (--resume continues from there)`, 130);
      }
      const v = valLoader ? await evaluate(model, valLoader, data.classes.length) : null;
      const seconds = (performance.now() - t0) / 1e3;
      if (v) schedule(scheduler, opt, v.loss);
      const acc = v ? v.accuracy : r.metrics.accuracy;
      const isBest = !v || acc > bestAcc;
      if (isBest) {
        bestAcc = acc;
        await saveCheckpoint(bestPath, model, meta({ epoch: epoch + 1, val_acc: v?.accuracy ?? null, val_loss: v?.loss ?? null, train_acc: r.metrics.accuracy }));
      }
      // a partial epoch (--max-steps) is recorded by its step, so that --resume finishes it
      await saveLast(lastPath, model, opt, scheduler, meta, r.partial ? epoch : epoch + 1, bestAcc, r.partial ? r.step : 0);
      const rec = epochRecord(epoch, o.epochs, r, v, data.classes, opt.lr, seconds, isBest && !!v);
      records.push(rec);
      run.runRecord.addEpoch(rec, v, r.losses);
      if (o.json) console.log(JSON.stringify(rec));
      else console.log(formatEpoch(rec, rec.best || epoch + 1 === o.epochs)); // the per-class table at each new best and at the end
      if (interrupt.requested()) throw new StopTraining(`interrupted after epoch ${epoch + 1}: last checkpoint written to ${lastPath}`, 130);
      if (stepLimit()) {
        log(`stopped after --max-steps ${o.maxSteps} (epoch ${epoch + 1}${r.partial ? ` at step ${r.step} of ${trainLoader.length}` : ''})`);
        break;
      }
    }
  } finally {
    interrupt.release();
    opt.dispose();
    model.dispose();
  }
  log(`best checkpoint: ${bestPath}`);
  return records;
}

/** ReduceLROnPlateau on the validation loss, said in one line when it lowers the rate. */
function schedule(scheduler: ReduceLROnPlateau, opt: Adam | SGD, valLoss: number): void {
  const lr = opt.lr;
  scheduler.step(valLoss);
  if (opt.lr < lr) log(`ReduceLROnPlateau: no improvement of the validation loss for ${scheduler.stateDict().patience + 1} epochs: lr ${lr.toExponential(1)} -> ${opt.lr.toExponential(1)}`);
}

function epochRecord(epoch: number, epochs: number, r: EpochResult, v: MetricsReport | null, classes: readonly string[], lr: number, seconds: number, best: boolean): EpochRecord {
  const perClass = (xs: ArrayLike<number> | undefined) => (xs ? Object.fromEntries(classes.map((c, i) => [c, xs[i]])) : null);
  return {
    epoch: epoch + 1,
    epochs,
    train_loss: r.metrics.loss,
    train_acc: r.metrics.accuracy,
    val_loss: v?.loss ?? null,
    val_acc: v?.accuracy ?? null,
    precision: perClass(v?.precision),
    recall: perClass(v?.recall),
    lr,
    images_per_s: r.images / r.seconds,
    seconds,
    skipped: r.skipped,
    steps: r.losses.length,
    best,
  };
}
