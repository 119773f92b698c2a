// Building a model from weights: our checkpoints (metadata says what to build), foreign
// state dicts (torchvision-style safetensors: --model names it, shapes give the rest),
// and Hugging Face ViT folders (config.json + model.safetensors [+ preprocessor_config.json]);
// a model opened to run is first checked to fit and to hold finite values.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../io/checkpoint_file.js';
import type { Module, StateSource } from '../nn/module.js';
import { modelSpec, type ImageConfig } from '../models/index.js';
import { buildFrom, describeWeights, weightsSource, type LoadedWeights } from '../models/load.js';
import { Tensor, sameShape } from '../engine/tensor.js';
import { firstNonFinite } from '../engine/shaders/finite.js';
import { checkFits } from './memory.js';

export { buildFrom, type LoadedWeights } from '../models/load.js';

/** Opens weights of any supported kind; `model` is needed for foreign files without metadata. */
export function openWeights(path: string, model?: string, overrides: Partial<ImageConfig> = {}): LoadedWeights {
  if (!existsSync(path)) throw new Error(`weights not found: ${path}`);
  if (statSync(path).isDirectory()) return openHfDir(path, model);
  try {
    return describeWeights(openCheckpoint(path).file, model, overrides);
  } catch (e) {
    throw new Error((e as Error).message.replace(/say which model it is$/, 'say which model with --model'));
  }
}

interface HfConfig {
  image_size?: number; patch_size?: number; num_channels?: number; hidden_size?: number; num_hidden_layers?: number;
  num_attention_heads?: number; intermediate_size?: number; layer_norm_eps?: number; hidden_act?: string;
  id2label?: Record<string, string>; model_type?: string;
}

function openHfDir(dir: string, model?: string): LoadedWeights {
  const cfgPath = join(dir, 'config.json');
  const weights = join(dir, 'model.safetensors');
  if (!existsSync(cfgPath) || !existsSync(weights)) throw new Error(`${dir}: a Hugging Face model folder needs config.json and model.safetensors`);
  if (model && model !== 'vit') throw new Error(`${dir}: Hugging Face folders hold ViT weights, not ${model}`);
  let c: HfConfig;
  try {
    c = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgPath}: ${(e as Error).message}`);
  }
  if (c.model_type && c.model_type !== 'vit') throw new Error(`${cfgPath}: model_type "${c.model_type}" is not vit`);
  if (c.hidden_act && c.hidden_act !== 'gelu') throw new Error(`${cfgPath}: hidden_act "${c.hidden_act}" is not supported (gelu only)`);
  const spec = modelSpec('vit');
  const { file } = openCheckpoint(weights);
  const source = weightsSource(file);
  const labels = c.id2label ? Object.keys(c.id2label).sort((a, b) => +a - +b).map((k) => c.id2label![k]) : null;
  const d = spec.defaults as unknown as Record<string, number>;
  const config = {
    imageSize: c.image_size ?? d.imageSize,
    channels: c.num_channels ?? d.channels,
    numClasses: source.shape('classifier.weight')[0],
    patchSize: c.patch_size ?? d.patchSize,
    hidden: c.hidden_size ?? d.hidden,
    layers: c.num_hidden_layers ?? d.layers,
    heads: c.num_attention_heads ?? d.heads,
    intermediate: c.intermediate_size ?? d.intermediate,
    layerNormEps: c.layer_norm_eps ?? d.layerNormEps,
  };
  let mean = spec.mean(config), std = spec.std(config);
  const pre = join(dir, 'preprocessor_config.json');
  if (existsSync(pre)) {
    const p = JSON.parse(readFileSync(pre, 'utf8')) as { image_mean?: number[]; image_std?: number[] };
    mean = p.image_mean ?? mean;
    std = p.image_std ?? std;
  }
  const classes = labels && labels.length === config.numClasses ? labels : Array.from({ length: config.numClasses }, (_, i) => String(i));
  return { spec, config, classes, mean, std, source, path: dir, ours: false, file };
}

/**
 * Loads pretrained weights into `model` (built for the task's classes): every backbone
 * tensor must be there with its shape; head tensors whose class count differs are left
 * at their fresh initialisation (Hugging Face's ignore_mismatched_sizes).
 */
export function loadPretrained(model: Module, w: LoadedWeights, head: readonly string[]): string[] {
  const own = model.stateDict();
  const skipped: string[] = [];
  const keys = [...w.source.keys()].filter((k) => {
    const mine = own.get(k);
    if (!mine || !head.includes(k) || !('shape' in mine)) return true;
    const same = sameShape(mine.shape, w.source.shape(k));
    if (!same) skipped.push(k);
    return same;
  });
  const missingHead = head.filter((k) => !keys.includes(k));
  const src: StateSource = { keys: () => keys, shape: w.source.shape, read: w.source.read };
  // Strict for the backbone: the head may be absent or replaced.
  const res = model.loadStateDict(src, { strict: false, source: w.path });
  const missing = res.missing.filter((k) => !missingHead.includes(k));
  if (missing.length || res.unexpected.length) {
    const parts = [];
    if (missing.length) parts.push(`missing keys: ${missing.join(', ')}`);
    if (res.unexpected.length) parts.push(`unexpected keys: ${res.unexpected.join(', ')}`);
    throw new Error(`${w.path}: not ${w.spec.name} weights: ${parts.join('; ')}`);
  }
  return skipped.sort((a, b) => head.indexOf(a) - head.indexOf(b));
}

/** Throws naming the first parameter or buffer of `model` that holds a NaN or an infinity (one GPU pass, one readback). */
export async function checkFinite(model: Module, source: string): Promise<void> {
  const entries = [...model.stateDict()].filter((e): e is [string, Tensor] => e[1] instanceof Tensor);
  const bad = await firstNonFinite(entries.map(([, t]) => t));
  if (bad >= 0) throw new Error(`${source}: ${entries[bad][0]} holds NaN or infinite values`);
}

/**
 * The model of the weights, loaded, in eval mode, its tensors checked for NaN and
 * infinities; refused first when it cannot fit at `batch`.
 */
export async function openModel(w: LoadedWeights, batch: number): Promise<Module> {
  checkFits(w.spec, w.config, batch, { train: false, rowsFlag: '--batch-size' });
  const model = buildFrom(w);
  try {
    await checkFinite(model, w.path);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
