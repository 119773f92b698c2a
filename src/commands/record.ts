// The run record: `<model>.run.json` beside the checkpoints, the history of one training
// run (configuration, each epoch's metrics, the step losses, the outcome), rewritten
// atomically after every epoch so an interrupted run keeps what it did. `report` reads it.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from '../engine/device.js';
import type { MetricsReport } from '../autograd/metrics.js';
import type { DataSource } from '../data/source.js';
import { writeFileAtomic, writeAll } from '../io/atomic.js';
import type { ImageConfig } from '../models/index.js';
import type { Module } from '../nn/module.js';
import type { EpochRecord } from './progress.js';
import type { TrainOptions } from './train_setup.js';

export const RUN_FORMAT = 'webgpu-dl-run/1';
/** The step-loss curve keeps at most this many points: pairs of points merge when it would grow past it. */
export const MAX_STEP_POINTS = 2000;

export interface RunConfig {
  model: string;
  data: string;
  data_description: string;
  val: string | null;
  image_size: number;
  channels: number;
  classes: string[];
  optimizer: string;
  lr: number;
  momentum: number;
  weight_decay: number;
  batch_size: number;
  /** Rows per forward/backward pass within a batch (given, or chosen from the adapter's limits). */
  micro_batch: number;
  clip: number;
  seed: number;
  epochs: number;
  augment: boolean;
  shuffle: boolean;
  dropout: number | null;
  init: string | null;
  pretrained: string | null;
  frozen_backbone: boolean;
  max_steps: number | null;
  adapter: { description: string; vendor: string; architecture: string; device: string; backend: string; software: boolean };
  engine_version: string;
  node_version: string;
}

export interface RunEpoch {
  epoch: number;
  /** Training steps in this epoch, and the step count of the whole run at its end. */
  steps: number;
  global_step: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
  /** Per class, in `config.classes` order (null without a validation set). */
  precision: number[] | null;
  recall: number[] | null;
  /** confusion[true][predicted], counts over the validation set. */
  confusion: number[][] | null;
  lr: number;
  images_per_s: number;
  seconds: number;
  skipped: number;
  best: boolean;
  finished_at: string;
}

export interface RunRecord {
  format: typeof RUN_FORMAT;
  model: string;
  config: RunConfig;
  started_at: string;
  /** One entry per `--resume`: when, after which epoch it continued, and the configuration's fields it changed (`config` keeps the first run's). */
  resumed: { at: string; after_epoch: number; epochs: number; changed: Partial<RunConfig> }[];
  epochs: RunEpoch[];
  /** Step losses; point i is the mean loss of global steps (step[i-1], step[i]], `every` steps a point but the last. */
  step_loss: { every: number; step: number[]; loss: number[] };
  parameters: number;
  trainable_parameters: number;
  best_epoch: number | null;
  best_val_acc: number | null;
  /** The best checkpoint (a file name beside the record) and its size in bytes. */
  checkpoint: string;
  checkpoint_bytes: number | null;
}

/** The engine's version, from package.json. */
export function engineVersion(): string {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function recordPath(out: string, model: string): string {
  return join(out, `${model}.run.json`);
}

/** Reads a record, with one clear line naming the file when it is not one. */
export function readRunRecord(path: string): RunRecord {
  let r: RunRecord;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
  } catch (e) {
    throw new Error(`${path}: not a readable run record: ${(e as Error).message.split('\n')[0]}`);
  }
  if (r?.format !== RUN_FORMAT || !Array.isArray(r.epochs) || !r.config) throw new Error(`${path}: not a run record (format "${RUN_FORMAT}" expected)`);
  return r;
}

/** The record for a `train` run: a new one, or the file's continued with --resume (after `resumedEpoch`). */
export function startRunRecord(
  o: TrainOptions,
  run: { model: string; data: DataSource; config: ImageConfig; net: Module; microBatch: number; checkpoint: string; resumedEpoch: number | null },
): RunRecorder {
  const g = gpu();
  const config: RunConfig = {
    model: run.model,
    data: o.data ?? 'default',
    data_description: run.data.description,
    val: o.val ?? null,
    image_size: run.config.imageSize,
    channels: run.config.channels,
    classes: run.data.classes,
    optimizer: o.optimizer,
    lr: o.lr,
    momentum: o.momentum,
    weight_decay: o.weightDecay,
    batch_size: o.batchSize,
    micro_batch: run.microBatch,
    clip: o.clip,
    seed: o.seed,
    epochs: o.epochs,
    augment: o.augment,
    shuffle: o.shuffle,
    dropout: o.dropout ?? null,
    init: o.init ?? null,
    pretrained: o.pretrained ?? null,
    frozen_backbone: run.net.parameters().some((p) => !p.requiresGrad),
    max_steps: o.maxSteps ?? null,
    adapter: { ...g.info, software: g.isSoftware },
    engine_version: engineVersion(),
    node_version: process.versions.node,
  };
  const init = { config, parameters: run.net.numParameters(), trainable: run.net.numParameters(true), checkpoint: run.checkpoint };
  return new RunRecorder(recordPath(o.out, run.model), init, run.resumedEpoch);
}

/** The record of one `train`: started fresh, or continued from the file after `afterEpoch` with --resume. */
export class RunRecorder {
  readonly record: RunRecord;

  constructor(
    readonly path: string,
    init: { config: RunConfig; parameters: number; trainable: number; checkpoint: string },
    resumeAfterEpoch: number | null,
  ) {
    const now = new Date().toISOString();
    const previous = resumeAfterEpoch !== null && existsSync(path) ? readRunRecord(path) : null;
    if (previous && resumeAfterEpoch !== null) {
      // Epochs after the resumed checkpoint (an interrupted epoch's steps) are run again: drop them.
      const kept = previous.epochs.filter((e) => e.epoch <= resumeAfterEpoch);
      const lastStep = kept.at(-1)?.global_step ?? 0;
      const cut = previous.step_loss.step.findIndex((s) => s > lastStep);
      if (cut >= 0) {
        previous.step_loss.step.length = cut;
        previous.step_loss.loss.length = cut;
      }
      this.record = {
        ...previous,
        config: { ...previous.config, epochs: init.config.epochs },
        resumed: [...previous.resumed, { at: now, after_epoch: resumeAfterEpoch, epochs: init.config.epochs, changed: changedFields(previous.config, init.config) }],
        epochs: kept,
      };
      this.updateBest();
    } else {
      this.record = {
        format: RUN_FORMAT,
        model: init.config.model,
        config: init.config,
        started_at: now,
        resumed: [],
        epochs: [],
        step_loss: { every: 1, step: [], loss: [] },
        parameters: init.parameters,
        trainable_parameters: init.trainable,
        best_epoch: null,
        best_val_acc: null,
        checkpoint: init.checkpoint,
        checkpoint_bytes: null,
      };
    }
  }

  /** The global step count before the next epoch. */
  get globalStep(): number {
    return this.record.epochs.at(-1)?.global_step ?? 0;
  }

  /** Adds a finished epoch (`val`: its validation metrics) and its step losses, notes the best checkpoint's size, and rewrites the file. */
  addEpoch(e: EpochRecord, val: MetricsReport | null, stepLosses: readonly number[]): void {
    const first = this.globalStep;
    const k = this.record.config.classes.length;
    const cm = val?.confusion;
    addStepLosses(this.record.step_loss, first, stepLosses);
    this.record.epochs.push({
      epoch: e.epoch,
      steps: stepLosses.length,
      global_step: first + stepLosses.length,
      train_loss: e.train_loss,
      train_acc: e.train_acc,
      val_loss: e.val_loss,
      val_acc: e.val_acc,
      precision: val?.precision ?? null,
      recall: val?.recall ?? null,
      confusion: cm ? Array.from({ length: k }, (_, i) => Array.from(cm.subarray(i * k, i * k + k))) : null,
      lr: e.lr,
      images_per_s: e.images_per_s,
      seconds: e.seconds,
      skipped: e.skipped,
      best: e.best,
      finished_at: new Date().toISOString(),
    });
    this.updateBest();
    const ckpt = join(dirname(this.path), this.record.checkpoint);
    this.record.checkpoint_bytes = existsSync(ckpt) ? statSync(ckpt).size : null;
    // Indented, with arrays of numbers on one line each.
    const text = JSON.stringify(this.record, null, 1).replace(/\[[-\d.eE+,\s]*\]/g, (a) => a.replace(/\s+/g, ''));
    const bytes = new TextEncoder().encode(`${text}\n`);
    writeFileAtomic(this.path, (fd) => writeAll(fd, bytes));
  }

  /** The epoch of the best checkpoint: the best validation accuracy, or without validation the last epoch (saved every epoch). */
  private updateBest(): void {
    const { epochs } = this.record;
    const best = epochs.some((e) => e.val_acc !== null) ? epochs.filter((e) => e.best).at(-1) : epochs.at(-1);
    this.record.best_epoch = best?.epoch ?? null;
    this.record.best_val_acc = best?.val_acc ?? null;
  }
}

function changedFields(was: RunConfig, now: RunConfig): Partial<RunConfig> {
  const keys = Object.keys(now) as (keyof RunConfig)[];
  return Object.fromEntries(keys.filter((k) => k !== 'epochs' && JSON.stringify(was[k]) !== JSON.stringify(now[k])).map((k) => [k, now[k]]));
}

/**
 * Appends the losses of steps first+1.. to the curve: each point the mean of `every` steps,
 * the last one filling up; when there would be more than MAX_STEP_POINTS, neighbours merge
 * (weighted by their step counts) and `every` doubles.
 */
export function addStepLosses(c: RunRecord['step_loss'], first: number, losses: readonly number[], max = MAX_STEP_POINTS): void {
  losses.forEach((loss, i) => {
    const step = first + i + 1;
    const n = c.step.length;
    const prev = n > 1 ? c.step[n - 2] : 0;
    const count = n ? c.step[n - 1] - prev : 0;
    if (n && count < c.every) {
      c.loss[n - 1] = (c.loss[n - 1] * count + loss) / (count + 1);
      c.step[n - 1] = step;
      return;
    }
    c.step.push(step);
    c.loss.push(loss);
    if (c.step.length <= max) return;
    const step2: number[] = [], loss2: number[] = [];
    for (let j = 0; j < c.step.length; j += 2) {
      const k = Math.min(j + 1, c.step.length - 1);
      const s0 = j ? c.step[j - 1] : 0;
      const n0 = c.step[j] - s0, n1 = c.step[k] - c.step[j];
      step2.push(c.step[k]);
      loss2.push((c.loss[j] * n0 + (k > j ? c.loss[k] * n1 : 0)) / (n0 + n1));
    }
    c.step = step2;
    c.loss = loss2;
    c.every *= 2;
  });
}
