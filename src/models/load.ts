// Weights to a model, on an open safetensors file (from disk or bytes): our checkpoints
// (the metadata says what to build) and foreign state dicts (torchvision-style: the caller
// names the model and the shapes give the rest).

import { parseCheckpoint, parseCheckpointMeta, stateSource } from '../io/checkpoint.js';
import { OPTIM_PREFIX } from '../io/optimizer_state.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import type { Module, StateSource } from '../nn/module.js';
import type { ImageConfig, ModelSpec } from './common.js';
import { modelSpec } from './index.js';
import { allocateOnly } from '../nn/init.js';

export interface LoadedWeights {
  spec: ModelSpec;
  config: ImageConfig;
  classes: string[];
  mean: number[];
  std: number[];
  source: StateSource;
  /** Where the weights came from, for messages. */
  path: string;
  ours: boolean;
  training?: Record<string, unknown>;
  file: SafetensorsFile;
}


export function weightsSource(file: SafetensorsFile): StateSource {
  const all = stateSource(file);
  const keys = [...all.keys()].filter((k) => !k.startsWith(OPTIM_PREFIX));
  return { keys: () => keys, shape: all.shape, read: all.read };
}

/** What to build from a file; `model` is needed for foreign weights without our metadata. */
export function describeWeights(file: SafetensorsFile, model?: string, overrides: Partial<ImageConfig> = {}): LoadedWeights {
  const path = file.path;
  const meta = parseCheckpointMeta(file.metadata, path);
  const source = weightsSource(file);
  if (meta) {
    if (model && model !== meta.model) throw new Error(`${path}: a ${meta.model} checkpoint, not ${model}`);
    const spec = modelSpec(meta.model);
    const outputs = (meta.config as { numClasses?: number }).numClasses;
    if (!Array.isArray(meta.classes) || meta.classes.length !== outputs) {
      throw new Error(`${path}: ${Array.isArray(meta.classes) ? meta.classes.length : 'no'} class names in its metadata for ${outputs} outputs`);
    }
    return { spec, config: meta.config as unknown as ImageConfig, classes: meta.classes, mean: meta.mean, std: meta.std, source, path, ours: true, training: meta.training, file };
  }
  if (!model) throw new Error(`${path}: no model metadata (foreign weights): say which model it is`);
  const spec = modelSpec(model);
  const shapes = new Map([...source.keys()].map((k) => [k, source.shape(k)]));
  let config: ImageConfig;
  try {
    config = spec.inferConfig ? spec.inferConfig(shapes, { ...spec.defaults, ...overrides }) : { ...spec.defaults, ...overrides };
  } catch (e) {
    throw new Error(`${path}: not ${model} weights: ${(e as Error).message}`);
  }
  config = { ...config, ...overrides };
  const classes = Array.from({ length: config.numClasses }, (_, i) => String(i));
  return { spec, config, classes, mean: spec.mean(config), std: spec.std(config), source, path, ours: false, file };
}

/** Builds the model the weights describe, loads them, and sets eval mode. */
export function buildFrom(w: LoadedWeights): Module {
  const model = allocateOnly(() => w.spec.create(w.config)); // the strict load below sets every tensor
  try {
    model.loadStateDict(w.source, { source: w.path });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model.eval();
}

/** A model from checkpoint (or foreign safetensors) bytes: `model` names foreign weights' architecture. */
export function loadModel(bytes: Uint8Array, opts: { name?: string; model?: string; imageSize?: number } = {}): LoadedWeights & { module: Module } {
  const w = describeWeights(parseCheckpoint(bytes, opts.name).file, opts.model, opts.imageSize ? { imageSize: opts.imageSize } : {});
  return { ...w, module: buildFrom(w) };
}
