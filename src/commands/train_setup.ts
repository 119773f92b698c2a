// A training run set up from its options (TrainOptions): the data, the output folder,
// the model (resumed, pretrained backbone, given initial weights, or fresh) with its
// configuration, the optimiser and scheduler, the micro-batch, the run record and the
// loaders. Nothing here trains: commands/train.ts runs the epochs.

import { join } from 'node:path';
import { setMemoryLimit } from '../engine/runtime.js';
import { manualSeed as seedDropout } from '../autograd/dropout.js';
import { DataLoader } from '../data/loader.js';
import { resolveData, type DataSource } from '../data/source.js';
import type { CheckpointMeta } from '../io/checkpoint.js';
import { allocateOnly, manualSeed as seedInit } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { freezeBackbone, modelSpec, type ImageConfig, type ModelSpec } from '../models/index.js';
import { Adam, SGD, ReduceLROnPlateau } from '../optim/index.js';
import { chooseMicroBatch } from './microbatch.js';
import { checkFinite, loadPretrained, openWeights } from './weights.js';
import { log, warnAll } from './progress.js';
import { startRunRecord, type RunRecorder } from './record.js';
import { guardEarlierRun, prepareOutDir, removeStaleTemps } from './outdir.js';
import { reconcileResume, recordedOptions } from './resume.js';
import { checkFits, memoryBudget } from './memory.js';
import { openLast, runState } from './last_checkpoint.js';

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

/** Everything the epoch loop works on. */
export interface TrainRun {
  data: DataSource;
  model: Module;
  opt: Adam | SGD;
  scheduler: ReduceLROnPlateau;
  microBatch: number;
  trainLoader: DataLoader;
  valLoader: DataLoader | null;
  runRecord: RunRecorder;
  /** The best checkpoint (by validation accuracy) and the last one (with the optimiser state). */
  bestPath: string;
  lastPath: string;
  /** A checkpoint's metadata around its training record. */
  meta: (training: Record<string, unknown>) => CheckpointMeta;
  /** Where a resumed run continues: epoch, step within it, the best accuracy so far. */
  startEpoch: number;
  startStep: number;
  bestAcc: number;
}

/** The run, or null when a resumed run has nothing left to do (said in one line). */
export async function setUpTraining(o: TrainOptions): Promise<TrainRun | null> {
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
  const resumed = o.resume ? openLast(lastPath, spec.name, data.classes) : null;
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
  // a resumed or --init model is loaded whole (strict): its initial weights need not be drawn
  const model = resumed || init ? allocateOnly(() => spec.create(config)) : spec.create(config);
  if (resumed) model.loadStateDict(resumed.source, { source: lastPath });
  else if (pretrained) {
    const replaced = loadPretrained(model, pretrained, spec.head);
    log(`pretrained: ${pretrained.path}${replaced.length ? ` (new head: ${replaced.join(', ')})` : ''}`);
  } else if (init) model.loadStateDict(init.source, { source: init.path });
  if (resumed || pretrained || init) await checkFinite(model, (resumed ?? pretrained ?? init)!.path);

  if (freeze) freezeBackbone(model, spec);
  const params = model.parameters().filter((p) => p.requiresGrad);
  log(`model: ${spec.name} ${describeConfig(config)}, ${model.numParameters().toLocaleString('en')} parameters (${model.numParameters(true).toLocaleString('en')} trainable)`);

  const opt = o.optimizer === 'sgd'
    ? new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay })
    : new Adam(params, { lr: o.lr, weightDecay: o.weightDecay });
  const scheduler = new ReduceLROnPlateau(opt);
  let startEpoch = 0, startStep = 0;
  let bestAcc = -1;
  if (resumed) {
    const t = runState(resumed);
    opt.loadStateDict(t.optimizer);
    scheduler.loadStateDict(t.scheduler);
    startEpoch = t.epoch;
    startStep = t.step;
    bestAcc = t.best_acc;
    if (startEpoch >= o.epochs) {
      log(`--resume: ${lastPath} has finished ${startEpoch} epoch${startEpoch > 1 ? 's' : ''}, --epochs is ${o.epochs}: nothing to do (raise --epochs to train further)`);
      opt.dispose();
      model.dispose();
      return null;
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
  return { data, model, opt, scheduler, microBatch, trainLoader, valLoader, runRecord, bestPath, lastPath, meta, startEpoch, startStep, bestAcc };
}

/** The micro-batch for --batch-size under the adapter's limits and the memory budget, said in one line when it splits. */
function pickMicroBatch(model: Module, sample: number[], o: TrainOptions): number {
  const c = chooseMicroBatch(model, sample, o.batchSize, memoryBudget(o.memoryLimit).bytes);
  if (c.reason) log(`micro-batch: ${c.rows} rows at a time (batch ${o.batchSize} in ${Math.ceil(o.batchSize / c.rows)} slices, gradients accumulated): ${c.reason}; set --micro-batch to choose`);
  return c.rows;
}

/** The model's configuration: its defaults, then the weights', then the data's channels and classes and the options. */
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
