// How much memory a configuration needs and how much it may have: the estimate, made
// before anything is allocated, so that a size that cannot fit is refused at once with the
// figure and what to change (instead of an internal error after minutes), and the one
// memory budget that refusal and the micro-batch choice both plan for. Parameters are
// counted exactly on a model built with shapes only; activations are a rough per-model
// count of the floats a sample keeps for the backward pass (the largest layer outputs
// dominate), doubled in training for their gradients.

import { totalmem } from 'node:os';
import { gpu } from '../engine/device.js';
import { shapesOnly } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { freezeBackbone, type ImageConfig, type ModelSpec } from '../models/index.js';

const GB = (b: number) => `${(b / 1e9).toFixed(b < 1e10 ? 2 : 1)} GB`;

/** The memory a run plans for, in bytes; `known` is false where it is only assumed. */
export interface MemoryBudget {
  bytes: number;
  known: boolean;
  /** Where the figure comes from, for messages. */
  what: string;
}

/**
 * --memory-limit (MiB) when given; else, on a software adapter (whose buffers are the
 * machine's memory), half the RAM; else 16 GiB, assumed: WebGPU does not tell a GPU's memory.
 */
export function memoryBudget(limitMiB?: number): MemoryBudget {
  if (limitMiB !== undefined) return { bytes: limitMiB * 2 ** 20, known: true, what: '--memory-limit' };
  if (gpu().isSoftware) return { bytes: totalmem() / 2, known: true, what: `half this machine's ${GB(totalmem())}` };
  return { bytes: 16 * 2 ** 30, known: false, what: 'assumed for a GPU' };
}

/** Floats per sample: all the activations kept, and the largest single one. */
function activations(model: string, config: ImageConfig): { total: number; largest: number } {
  const c = config as ImageConfig & { width: number; hidden: number; layers: number; patchSize: number; heads: number; intermediate: number };
  const S = c.imageSize, C = c.channels, input = C * S * S;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  switch (model) {
    case 'dnn':
      return { total: input + 2 * sum((config as unknown as { hidden: number[] }).hidden), largest: input };
    case 'lenet': {
      const a = 6 * (S - 4) ** 2, b = 16 * (Math.floor((S - 4) / 2) - 4) ** 2;
      return { total: input + 3 * a + 3 * b, largest: Math.max(input, a) };
    }
    case 'vgg16': {
      // blocks of 2, 2, 3, 3, 3 convs at S, S/2, ... with width x 1, 2, 4, 8, 8; conv, ReLU, pool outputs
      const convs = [2, 2, 3, 3, 3], mult = [1, 2, 4, 8, 8];
      const blocks = convs.map((n, b) => 2 * n * c.width * mult[b] * (S / 2 ** b) ** 2);
      return { total: input + sum(blocks), largest: Math.max(input, c.width * S * S) };
    }
    case 'resnet18': {
      const stem = 3 * c.width * (S / 2) ** 2;
      const layers = [1, 2, 4, 8].map((m, i) => 14 * c.width * m * (S / 4 / 2 ** i) ** 2);
      return { total: input + stem + sum(layers), largest: Math.max(input, c.width * (S / 2) ** 2) };
    }
    case 'birnn': {
      // each layer and direction: gates (4H) and states (2H) for each of the S rows
      const H = c.hidden, T = S;
      return { total: input + c.layers * 2 * 6 * H * T, largest: Math.max(input, 4 * H * T) };
    }
    case 'vit': {
      const L = (S / c.patchSize) ** 2 + 1, h = c.hidden;
      const layer = (10 * h + 2 * c.intermediate) * L + 2 * c.heads * L * L;
      return { total: input + c.layers * layer, largest: Math.max(input, c.heads * L * L, c.intermediate * L) };
    }
    default:
      return { total: input, largest: input };
  }
}

export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  total: number;
  /** The largest single tensor, in bytes. */
  largest: number;
  /** Bytes of activations one sample adds. */
  perSample: number;
  /** The largest parameter tensor: its name and bytes. */
  largestParam: [string, number];
}

export interface EstimateOptions {
  /** Training (gradients, optimiser state, activations kept for backward) or inference. */
  train: boolean;
  optimizer?: 'adam' | 'sgd';
  momentum?: number;
  freeze?: boolean;
  /** The option that sets the rows run at once, suggested when fewer would fit (none: only --image-size helps). */
  rowsFlag?: '--batch-size' | '--micro-batch';
}

export function estimateMemory(spec: ModelSpec, config: ImageConfig, batch: number, o: EstimateOptions): MemoryEstimate {
  const model = shapesOnly(() => (spec as { create(c: ImageConfig): Module }).create(config));
  if (o.freeze) freezeBackbone(model, spec);
  const params = model.numParameters(), trainable = o.train ? model.numParameters(true) : 0;
  let largestParam: [string, number] = ['', 0];
  for (const [k, v] of model.stateDict()) if ('size' in v && 4 * v.size > largestParam[1]) largestParam = [k, 4 * v.size];
  model.dispose();
  const states = o.optimizer === 'sgd' ? (o.momentum ? 1 : 0) : 2;
  const a = activations(spec.name, config);
  const perSample = 4 * (o.train ? 2 * a.total : 3 * a.largest);
  const e = { weights: 4 * params, gradients: 4 * trainable, optimizer: 4 * trainable * states, activations: batch * perSample };
  return { ...e, total: e.weights + e.gradients + e.optimizer + e.activations, largest: 4 * batch * a.largest, perSample, largestParam };
}

/**
 * Refuses a configuration whose estimate exceeds the adapter's largest buffer, or the
 * memory budget where it is known (a software adapter's: a GPU's own memory is not known
 * to WebGPU), with the figure and what to change.
 */
export function checkFits(spec: ModelSpec, config: ImageConfig, batch: number, o: EstimateOptions): MemoryEstimate {
  const e = estimateMemory(spec, config, batch, o);
  const what = `${spec.name} at ${config.imageSize}x${config.imageSize}x${config.channels}, ${batch} row${batch > 1 ? 's' : ''} at once`;
  const change = (n: number) => (n >= 1 && o.rowsFlag ? `lower ${o.rowsFlag} (about ${n} fits) or --image-size` : 'lower --image-size');
  const maxBuffer = gpu().limits.maxBufferSize;
  const fixed = e.weights + e.gradients + e.optimizer;
  const fitting = (budget: number, per: number) => Math.floor(budget / per);
  if (e.largestParam[1] > maxBuffer) {
    throw new Error(`${what}: its ${e.largestParam[0]} alone is ${GB(e.largestParam[1])}, above this adapter's largest buffer (${GB(maxBuffer)}): lower --image-size`);
  }
  if (e.largest > maxBuffer) {
    throw new Error(`${what}: its largest activation needs about ${GB(e.largest)}, above this adapter's largest buffer (${GB(maxBuffer)}): ${change(fitting(maxBuffer, e.largest / batch))}`);
  }
  const budget = memoryBudget();
  if (budget.known && e.total > budget.bytes) {
    const n = fitting(budget.bytes - fixed, e.perSample);
    const parts = `weights ${GB(e.weights)}${o.train ? `, gradients ${GB(e.gradients)}, optimizer state ${GB(e.optimizer)}` : ''}, activations ${GB(e.activations)}`;
    throw new Error(`${what} needs about ${GB(e.total)} (${parts}), more than the memory budget of ${GB(budget.bytes)} (${budget.what}): ${change(n)}`);
  }
  return e;
}
