// `train`: the seed's training loop. Each epoch trains with Adam (or SGD) and gradient
// clipping, validates, steps ReduceLROnPlateau on the validation loss, saves the best
// checkpoint (by validation accuracy) and the last one with the optimiser state.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, tidy } from '../engine/tensor.js';
import { pace, setMemoryLimit } from '../engine/runtime.js';
import { totalmem } from 'node:os';
import { gpu } from '../engine/device.js';
import { chooseMicroBatch } from './microbatch.js';
import { stridedCopy } from '../engine/shaders/layout.js';
import { noGrad } from '../autograd/tape.js';
import { Metrics, type MetricsReport } from '../autograd/metrics.js';
import { manualSeed as seedDropout } from '../autograd/dropout.js';
import { DataLoader } from '../data/loader.js';
import { resolveData } from '../data/source.js';
import type { Dataset } from '../data/datasets.js';
import { saveCheckpoint, type CheckpointMeta } from '../io/checkpoint_file.js';
import type { TensorInput } from '../io/safetensors.js';
import { manualSeed as seedInit } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { freezeBackbone, modelSpec, type ImageConfig, type ModelSpec } from '../models/index.js';
import { Adam, SGD, ReduceLROnPlateau, trainStep } from '../optim/index.js';

type AnyOptimizer = Adam | SGD;
import { checkFinite, loadPretrained, openWeights, OPTIM_PREFIX } from './weights.js';
import { Progress, formatEpoch, log, warnAll } from './progress.js';
import { startRunRecord } from './record.js';
import { guardEarlierRun, prepareOutDir, removeStaleTemps } from './outdir.js';
import { reconcileResume, recordedOptions } from './resume.js';
import { checkFits } from './memory.js';

export interface TrainOptions {
  model: string;
  data?: string;
  val?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  clip: number;
  optimizer: 'adam' | 'sgd';
  momentum: number;
  weightDecay: number;
  imageSize?: number;
  dropout?: number;
  seed: number;
  augment: boolean;
  shuffle: boolean;
  init?: string;
  pretrained?: string;
  freezeBackbone?: boolean;
  out: string;
  maxSteps?: number;
  /** Rows run at once (gradients accumulated over the batch); default: chosen from the adapter's limits and the memory budget. */
  microBatch?: number;
  /** MiB of GPU memory the pool may hold (free buffers past it go back to the device); also the micro-batch budget. */
  memoryLimit?: number;
  resume: boolean;
  /** Replace an earlier run's checkpoints in `out`. */
  overwrite?: boolean;
  json: boolean;
  /** The options given on the command line (the rest are defaults, taken from the checkpoint on --resume); undefined: all. */
  given?: Set<string>;
}

export interface EpochRecord {
  epoch: number;
  epochs: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
  precision: Record<string, number> | null;
  recall: Record<string, number> | null;
  lr: number;
  images_per_s: number;
  seconds: number;
  skipped: number;
  /** Training steps run, each with its loss read back. */
  steps: number;
  best: boolean;
}

/** Raised to stop training with a message; the exit code tells why (130 for Ctrl-C). */
export class StopTraining extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export async function train(o: TrainOptions): Promise<EpochRecord[]> {
  const spec = modelSpec(o.model);
  const data = resolveData(o.data, o.val);
  log(`data: ${data.description}`);
  warnAll(data.warnings);
  if (data.classes.length < 2) throw new Error(`${o.data ?? 'data'}: only one class (${data.classes[0]}); classification needs at least two`);
  prepareOutDir(o.out);
  const stale = removeStaleTemps(o.out);
  if (stale.length) log(`removed ${stale.length} temporary file${stale.length > 1 ? 's' : ''} left by an interrupted write in ${o.out}`);
  const lastPath = join(o.out, `${spec.name}.last.safetensors`);
  const bestPath = join(o.out, `${spec.name}.safetensors`);
  guardEarlierRun([bestPath, lastPath], o);

  // The model: resumed, pretrained backbone, given initial weights, or fresh.
  seedInit(o.seed);
  seedDropout(o.seed);
  const resumed = o.resume ? openResume(lastPath, spec.name, data.classes) : null;
  if (resumed) {
    const t = resumed.training as { options?: Record<string, unknown> };
    reconcileResume(o, t.options, resumed.config as unknown as Record<string, unknown>, lastPath, o.given);
  }
  const pretrained = !resumed && o.pretrained ? openWeights(o.pretrained, spec.name) : null;
  const init = !resumed && o.init ? openWeights(o.init, spec.name) : null;
  const config = resumed?.config ?? modelConfig(spec, o, data.channels, data.nativeSize, data.classes.length, pretrained?.config ?? init?.config);
  const mean = resumed?.mean ?? pretrained?.mean ?? spec.mean(config);
  const std = resumed?.std ?? pretrained?.std ?? spec.std(config);
  const resumedFrozen = (resumed?.training as { frozen?: boolean } | undefined)?.frozen;
  const freeze = o.freezeBackbone ?? resumedFrozen ?? (pretrained ? spec.freezeBackbone ?? false : false);
  // rows at once: the given micro-batch, else at least one (the chosen micro-batch fits what is left)
  checkFits(spec, config, o.microBatch ?? 1, { train: true, optimizer: o.optimizer, momentum: o.momentum, freeze, rowsFlag: o.microBatch ? '--micro-batch' : undefined });
  const model = spec.create(config);
  if (resumed) model.loadStateDict(resumed.source, { source: lastPath });
  else if (pretrained) {
    const replaced = loadPretrained(model, pretrained, spec.head);
    log(`pretrained: ${pretrained.path}${replaced.length ? ` (new head: ${replaced.join(', ')})` : ''}`);
  } else if (init) model.loadStateDict(init.source, { source: init.path });
  if (resumed || pretrained || init) await checkFinite(model, (resumed ?? pretrained ?? init)!.path);

  if (freeze) freezeBackbone(model, spec);
  const params = model.parameters().filter((p) => p.requiresGrad);
  log(`model: ${spec.name} ${describeConfig(config)}, ${model.numParameters().toLocaleString('en')} parameters (${model.numParameters(true).toLocaleString('en')} trainable)`);

  const opt: AnyOptimizer = o.optimizer === 'sgd'
    ? new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay })
    : new Adam(params, { lr: o.lr, weightDecay: o.weightDecay });
  const scheduler = new ReduceLROnPlateau(opt);
  let startEpoch = 0, startStep = 0;
  let bestAcc = -1;
  if (resumed) {
    const t = resumed.training as { epoch: number; step?: number; best_acc: number; scheduler: never; optimizer: never };
    opt.loadStateDict(optimizerState(resumed, t.optimizer));
    scheduler.loadStateDict(t.scheduler);
    startEpoch = t.epoch;
    startStep = t.step ?? 0;
    bestAcc = t.best_acc;
    if (startEpoch >= o.epochs) {
      log(`--resume: ${lastPath} has finished ${startEpoch} epoch${startEpoch > 1 ? 's' : ''}, --epochs is ${o.epochs}: nothing to do (raise --epochs to train further)`);
      opt.dispose();
      model.dispose();
      return [];
    }
    log(`resumed from ${lastPath} ${startStep ? `in epoch ${startEpoch + 1} at step ${startStep}` : `after epoch ${startEpoch}`}`);
  }

  if (o.memoryLimit !== undefined) setMemoryLimit(o.memoryLimit * 2 ** 20);
  const microBatch = o.microBatch ?? pickMicroBatch(model, [config.channels, config.imageSize, config.imageSize], o);
  const runRecord = startRunRecord(o, { model: spec.name, data, config, net: model, microBatch, checkpoint: `${spec.name}.safetensors`, resumedEpoch: resumed ? startEpoch : null });
  const { train: trainSet, val: valSet } = data.open({ size: config.imageSize, channels: config.channels, augment: o.augment && data.kind === 'images', mean, std });
  const warn = (m: string) => log(`warning: ${m}`);
  const trainLoader = new DataLoader(trainSet, { batchSize: o.batchSize, shuffle: o.shuffle, train: o.augment, seed: o.seed, onWarn: warn });
  const valLoader = valSet ? new DataLoader(valSet, { batchSize: o.batchSize, shuffle: false, train: false, onWarn: warn }) : null;
  const meta = (training: Record<string, unknown>): CheckpointMeta => ({ model: spec.name, config: { ...config }, classes: data.classes, mean, std, training: { ...training, options: recordedOptions(o) } });

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('stopping: finishing this step, then saving the last checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  const records: EpochRecord[] = [];
  let steps = 0;
  try {
    for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      const first = epoch === startEpoch ? startStep : 0;
      const r = await trainEpoch(model, trainLoader, opt, o, microBatch, epoch, first, () => interrupted, (n) => (steps += n, o.maxSteps !== undefined && steps >= o.maxSteps));
      if (interrupted && r.partial) {
        await saveLast(lastPath, model, opt, scheduler, meta, epoch, bestAcc, r.step);
        throw new StopTraining(`interrupted in epoch ${epoch + 1} at step ${r.step}: last checkpoint written to ${lastPath} (--resume continues from there)`, 130);
      }
      const v = valLoader ? await evaluate(model, valLoader, data.classes.length) : null;
      const seconds = (performance.now() - t0) / 1e3;
      if (v) {
        const lr = opt.lr;
        scheduler.step(v.loss);
        if (opt.lr < lr) log(`ReduceLROnPlateau: no improvement of the validation loss for ${scheduler.stateDict().patience + 1} epochs: lr ${lr.toExponential(1)} -> ${opt.lr.toExponential(1)}`);
      }
      const acc = v ? v.accuracy : r.metrics.accuracy;
      const isBest = !v || acc > bestAcc;
      if (isBest) {
        bestAcc = acc;
        await saveCheckpoint(bestPath, model, meta({ epoch: epoch + 1, val_acc: v?.accuracy ?? null, val_loss: v?.loss ?? null, train_acc: r.metrics.accuracy }));
      }
      // a partial epoch (--max-steps) is recorded by its step, so that --resume finishes it
      await saveLast(lastPath, model, opt, scheduler, meta, r.partial ? epoch : epoch + 1, bestAcc, r.partial ? r.step : 0);
      const rec: EpochRecord = {
        epoch: epoch + 1,
        epochs: o.epochs,
        train_loss: r.metrics.loss,
        train_acc: r.metrics.accuracy,
        val_loss: v?.loss ?? null,
        val_acc: v?.accuracy ?? null,
        precision: v?.precision ? Object.fromEntries(data.classes.map((c, i) => [c, v.precision![i]])) : null,
        recall: v?.recall ? Object.fromEntries(data.classes.map((c, i) => [c, v.recall![i]])) : null,
        lr: opt.lr,
        images_per_s: r.images / r.seconds,
        seconds,
        skipped: r.skipped,
        steps: r.losses.length,
        best: isBest && !!v,
      };
      records.push(rec);
      runRecord.addEpoch(rec, v, r.losses);
      if (o.json) console.log(JSON.stringify(rec));
      else console.log(formatEpoch(rec, rec.best || epoch + 1 === o.epochs)); // the per-class table at each new best and at the end
      if (interrupted) throw new StopTraining(`interrupted after epoch ${epoch + 1}: last checkpoint written to ${lastPath}`, 130);
      if (o.maxSteps !== undefined && steps >= o.maxSteps) {
        log(`stopped after --max-steps ${o.maxSteps} (epoch ${epoch + 1}${r.partial ? ` at step ${r.step} of ${trainLoader.length}` : ''})`);
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    opt.dispose();
    model.dispose();
  }
  log(`best checkpoint: ${bestPath}`);
  return records;
}

interface EpochResult {
  metrics: MetricsReport;
  images: number;
  seconds: number;
  skipped: number;
  partial: boolean;
  /** Each step's loss (of the steps this run made). */
  losses: number[];
  step: number; // steps of the epoch done (counting those of a resumed start)
}

/** One pass over the training data (from step `first` of a resumed epoch); loss and accuracy accumulate on the GPU. */
async function trainEpoch(model: Module, loader: DataLoader, opt: AnyOptimizer, o: TrainOptions, microBatch: number, epoch: number, first: number, stop: () => boolean, count: (n: number) => boolean): Promise<EpochResult> {
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
        const loss = trainStep(model, { x: batch.x, y: batch.y, shape: [batch.n, ds.channels, ds.height, ds.width] }, opt, o.clip, metrics, microBatch);
        stridedCopy(loss, history, [1], [1], [1], 0, step);
      });
      await pace();
      step++;
      images += batch.n;
      const done = count(1);
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

/** The micro-batch for --batch-size under the adapter's limits and the memory budget, said in one line when it splits. */
function pickMicroBatch(model: Module, sample: number[], o: TrainOptions): number {
  // WebGPU does not tell a GPU's memory: a software adapter may use half the RAM, a GPU is assumed to have 16 GiB.
  const budget = o.memoryLimit !== undefined ? o.memoryLimit * 2 ** 20 : gpu().isSoftware ? totalmem() / 2 : 16 * 2 ** 30;
  const c = chooseMicroBatch(model, sample, o.batchSize, budget);
  if (c.reason) log(`micro-batch: ${c.rows} rows at a time (batch ${o.batchSize} in ${Math.ceil(o.batchSize / c.rows)} slices, gradients accumulated): ${c.reason}; set --micro-batch to choose`);
  return c.rows;
}

function modelConfig(spec: ModelSpec, o: TrainOptions, channels: number, nativeSize: number, numClasses: number, from?: ImageConfig): ImageConfig {
  const base = { ...spec.defaults, ...(from ?? {}) } as ImageConfig & Record<string, unknown>;
  // Weights fix the image size only where their shapes depend on it (ViT's position embeddings, a Linear on the features).
  let imageSize = o.imageSize ?? (from && spec.sizeFromWeights ? from.imageSize : nativeSize || spec.defaults.imageSize);
  const config = { ...base, channels, numClasses } as ImageConfig & Record<string, unknown>;
  if (spec.fitImageSize) imageSize = spec.fitImageSize(imageSize, config);
  config.imageSize = imageSize;
  if (o.dropout !== undefined && 'dropout' in config) config.dropout = o.dropout;
  if (from && from.channels !== channels) throw new Error(`the weights take ${from.channels}-channel images, the data has ${channels}`);
  return config;
}

function describeConfig(c: ImageConfig): string {
  return `(${c.imageSize}x${c.imageSize}x${c.channels}, ${c.numClasses} classes)`;
}

function openResume(path: string, model: string, classes: string[]) {
  if (!existsSync(path)) throw new Error(`--resume: no ${path} to continue from`);
  const w = openWeights(path, model);
  if (!w.ours || !w.training?.optimizer) throw new Error(`${path}: not a last checkpoint with optimiser state`);
  if (w.classes.join('\n') !== classes.join('\n')) throw new Error(`${path}: trained on classes [${w.classes.join(', ')}], the data has [${classes.join(', ')}]`);
  return w;
}

/** Optimiser tensors are stored as `optimizer.state.<i>.<name>`, numbers in the metadata. */
async function saveLast(path: string, model: Module, opt: AnyOptimizer, scheduler: ReduceLROnPlateau, meta: (t: Record<string, unknown>) => CheckpointMeta, epoch: number, bestAcc: number, step = 0): Promise<void> {
  const sd = await opt.stateDict();
  const extra = new Map<string, TensorInput>();
  const scalars: Record<string, Record<string, number>> = {};
  for (const [i, st] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(st as Record<string, number | Float32Array>)) {
      if (typeof v === 'number') (scalars[i] ??= {})[k] = v;
      else extra.set(`${OPTIM_PREFIX}state.${i}.${k}`, { dtype: 'F32', shape: [v.length], data: v });
    }
  }
  const frozen = model.parameters().some((p) => !p.requiresGrad);
  await saveCheckpoint(path, model, meta({ epoch, ...(step ? { step } : {}), best_acc: bestAcc, frozen, scheduler: scheduler.stateDict(), optimizer: { param_groups: sd.param_groups, scalars } }), extra);
}

function optimizerState(w: ReturnType<typeof openWeights>, saved: { param_groups: unknown; scalars: Record<string, Record<string, number>> }) {
  const state: Record<string, Record<string, number | Float32Array>> = {};
  for (const [i, s] of Object.entries(saved.scalars)) state[i] = { ...s };
  const prefix = `${OPTIM_PREFIX}state.`;
  for (const k of w.file.keys()) {
    if (!k.startsWith(prefix)) continue;
    const [i, name] = k.slice(prefix.length).split('.');
    (state[i] ??= {})[name] = w.file.read(k).data as Float32Array;
  }
  return { state, param_groups: saved.param_groups } as never;
}
