// `predict`: class probabilities of trained weights for image files, folders of them and
// .npy batches, one line (or JSON object) per item, one error line per input that fails.

import { readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Tensor, tidy } from '../engine/tensor.js';
import { noGrad } from '../autograd/tape.js';
import { softmax } from '../autograd/softmax.js';
import { isImageName } from '../data/folder.js';
import { transformImage } from '../data/transforms.js';
import { Rng } from '../engine/rng.js';
import { readNpy } from '../io/npy_file.js';
import { toFloat32 } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import { openModel, openWeights, type LoadedWeights } from './weights.js';
import { log } from './progress.js';

export interface PredictOptions {
  weights: string;
  model?: string;
  imageSize?: number;
  top: number;
  batchSize?: number;
  json: boolean;
}

/** What one input gives: items to run (an image is one, a .npy batch N), or why it cannot. */
interface Input {
  name: string;
  x?: Float32Array;
  shape?: number[]; // (n, C, H, W)
  error?: string;
}

/**
 * Class probabilities for image files, folders of them (walked, sorted), and the
 * (N,C,H,W) batches of .npy files: one result per image or item, or one error line per
 * input that cannot be read (the others still run); false when any failed.
 */
export async function predictCommand(inputs: string[], o: PredictOptions): Promise<boolean> {
  if (!inputs.length) throw new Error('predict: no images given');
  const w = openWeights(o.weights, o.model, o.imageSize ? { imageSize: o.imageSize } : {});
  const batchSize = o.batchSize ?? 32;
  const model = await openModel(w, batchSize);
  let failed = 0;
  const report = (name: string, error: string) => {
    failed++;
    if (o.json) console.log(JSON.stringify({ input: name, error }));
    else log(`error: ${name}: ${error}`);
  };
  const files = inputs.flatMap((input) => {
    const found = expandInput(input);
    if (!found.length) report(input, 'a folder without images or .npy files');
    return found;
  });
  try {
    // images in groups of batchSize, decoded together; a .npy file on its own, in chunks
    for (let i = 0; i < files.length; ) {
      const group = [files[i++]];
      if (!isNpy(group[0])) while (i < files.length && group.length < batchSize && !isNpy(files[i])) group.push(files[i++]);
      const loaded = await Promise.all(group.map((f) => loadInput(f, w)));
      for (const input of loaded) if (input.error) report(input.name, input.error);
      const ok = loaded.filter((l) => !l.error);
      if (!ok.length) continue;
      const [, C, H, W] = ok[0].shape!;
      const n = ok.reduce((s, l) => s + l.shape![0], 0);
      const names = ok.flatMap((l) => (isNpy(l.name) ? Array.from({ length: l.shape![0] }, (_, k) => `${l.name}[${k}]`) : [l.name]));
      const x = ok.length === 1 ? ok[0].x! : concatF32(ok.map((l) => l.x!));
      for (let s = 0; s < n; s += batchSize) {
        const m = Math.min(batchSize, n - s);
        const chunk = x.subarray(s * C * H * W, (s + m) * C * H * W);
        await printPredictions(model, Tensor.from(chunk.slice(), [m, C, H, W]), names.slice(s, s + m), w.classes, o);
      }
    }
  } finally {
    model.dispose();
  }
  if (failed) {
    log(`predict: ${failed} input${failed > 1 ? 's' : ''} failed`);
    process.exitCode = 1;
  }
  return failed === 0;
}

const isNpy = (f: string) => extname(f).toLowerCase() === '.npy';

/** A folder's image and .npy files, recursively in sorted order (each folder once: links may loop); anything else as given. */
function expandInput(path: string, seen = new Set<string>()): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    return [path]; // reported when it is read
  }
  if (!st.isDirectory()) return [path];
  const real = realpathSync(path);
  if (seen.has(real)) return [];
  seen.add(real);
  const found: string[] = [];
  for (const name of readdirSync(path).filter((n) => !n.startsWith('.')).sort()) {
    const p = join(path, name);
    const k = statSync(p, { throwIfNoEntry: false });
    if (k?.isDirectory()) found.push(...expandInput(p, seen));
    else if (k?.isFile() && (isImageName(name) || isNpy(name))) found.push(p);
  }
  return found;
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.length) - p.length);
  return out;
}

async function printPredictions(model: Module, x: Tensor, names: string[], classes: string[], o: PredictOptions): Promise<void> {
  const logits = noGrad(() => tidy(() => model.forward(x)));
  const probs = tidy(() => noGrad(() => softmax(logits)));
  const [lg, pr] = [await logits.readF32(), await probs.readF32()];
  logits.dispose();
  probs.dispose();
  x.dispose();
  const K = classes.length;
  for (let i = 0; i < names.length; i++) {
    const l = Array.from(lg.subarray(i * K, i * K + K)), p = Array.from(pr.subarray(i * K, i * K + K));
    const order = p.map((v, k) => [v, k]).sort((a, b) => b[0] - a[0]).slice(0, Math.max(1, o.top));
    if (o.json) console.log(JSON.stringify({ input: names[i], logits: l, probs: p, pred: classes[order[0][1]], index: order[0][1] }));
    else console.log(`${names[i]}: ${order.map(([v, k]) => `${classes[k]} ${(100 * v).toFixed(2)}%`).join(', ')}`);
  }
}

/** Float .npy types are converted to float32; integer ones are refused (not normalised values). */
const NPY_FLOATS = ['F32', 'F64', 'F16'];

async function loadInput(path: string, w: LoadedWeights): Promise<Input> {
  const c = w.config;
  try {
    if (isNpy(path)) {
      const t = readNpy(path);
      const [n, ch, h, wd] = t.shape;
      const any = w.spec.anyInputSize;
      if (!NPY_FLOATS.includes(t.dtype)) return { name: path, error: `holds ${t.dtype} values; predict takes normalised float32 (float16 and float64 are converted): convert and normalise first` };
      if (t.shape.length !== 4 || ch !== c.channels || (!any && (h !== c.imageSize || wd !== c.imageSize))) {
        return { name: path, error: `holds [${t.shape}], the model takes (N, ${c.channels}, ${any ? 'H, W' : `${c.imageSize}, ${c.imageSize}`}) float32` };
      }
      if (n === 0) return { name: path, error: `holds no items (shape [${t.shape}])` };
      const x = toFloat32(t);
      const bad = x.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) return { name: path, error: `item ${Math.floor(bad / (ch * h * wd))} holds NaN or infinite values` };
      return { name: path, x, shape: [n, ch, h, wd] };
    }
    // NOTE: Resize((S, S)) without a crop, as the seed's inference function, with Pillow's exact
    // bilinear resize (as the seed's PIL, and as the web page, which shares pixels.ts).
    const x = await transformImage(path, { size: c.imageSize, channels: c.channels as 1 | 3, train: false, augment: false, mean: w.mean, std: w.std, fit: 'fill', resampler: 'pillow' }, new Rng(0));
    return { name: path, x, shape: [1, c.channels, c.imageSize, c.imageSize] };
  } catch (e) {
    return { name: path, error: (e as Error).message.replace(`${path}: `, '') };
  }
}
