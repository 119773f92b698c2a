// torchvision's transforms on raw HWC uint8 pixels (Node and the browser): the geometry of
// RandomResizedCrop / Resize / CenterCrop / flip, Pillow's bilinear resize (resample.ts), and
// ToTensor + Normalize. transforms.ts decodes files with sharp and uses the same geometry.
import { crop, resizeBilinear } from './resample.js';
import type { Rng } from '../engine/rng.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Normalize's mean and std when none are given: ImageNet's for 3 channels, 0.5 for 1 (ImageNet's first value for any other count). */
export function defaultNormalization(channels: number): { mean: number[]; std: number[] } {
  const per = (v: number[]) => (channels === v.length ? v : new Array<number>(channels).fill(channels === 1 ? 0.5 : v[0]));
  return { mean: per(IMAGENET_MEAN), std: per(IMAGENET_STD) };
}

export interface TransformSpec {
  size: number; // S: output is (channels, S, S)
  channels: 1 | 3; // 1: PIL convert('L') luminance
  train: boolean;
  augment: boolean; // random crop + flip, only when train
  mean: readonly number[]; // one value per channel, or one for all
  std: readonly number[];
  fit?: 'crop' | 'fill'; // eval resize: 'crop' (default) = Resize + CenterCrop; 'fill' = Resize((S,S))
  resampler?: 'sharp' | 'pillow'; // image files: libvips on worker threads (default) or Pillow-exact JS
}

export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Python's round(): halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** transforms.RandomResizedCrop.get_params: 10 tries, then a central crop clamped to the ratio range. */
export function randomResizedCropParams(
  height: number, width: number, rng: Rng, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3],
): Box {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = pyRound(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = pyRound(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** transforms.Resize(size) with an int size: the shorter side becomes `size`, the longer one int(size*long/short). */
export function shorterSideSize(height: number, width: number, size: number): [number, number] {
  if (width <= height) return [Math.trunc((size * height) / width), size];
  return [size, Math.trunc((size * width) / height)];
}

/** The eval resize of the seed's transforms: 256 for 224, scaled for other sizes. */
export const evalResizeSize = (size: number): number => Math.round((256 / 224) * size);

/** transforms.CenterCrop(size) of an image at least size x size. */
export function centerCropBox(height: number, width: number, size: number): Box {
  return { top: pyRound((height - size) / 2), left: pyRound((width - size) / 2), height: size, width: size };
}

// ToTensor + Normalize in float32 as torch computes it, as one table per channel (cached per spec).
const tableCache = new WeakMap<TransformSpec, Float32Array[]>();
export function normTables(spec: TransformSpec): Float32Array[] {
  const cached = tableCache.get(spec);
  if (cached) return cached;
  const { mean, std, channels } = spec;
  const pick = (v: readonly number[], c: number): number => (v.length === 1 ? v[0] : v[c]);
  if (![1, channels].includes(mean.length) || ![1, channels].includes(std.length)) {
    throw new Error(`Normalize: mean/std have ${mean.length}/${std.length} values for ${channels} channels`);
  }
  const tables = Array.from({ length: channels }, (_, c) => {
    const m = Math.fround(pick(mean, c));
    const s = Math.fround(pick(std, c));
    return Float32Array.from({ length: 256 }, (_, v) => Math.fround(Math.fround(v / 255) - m) / s);
  });
  tableCache.set(spec, tables);
  return tables;
}

/**
 * HWC uint8 with 1 or 3 channels -> normalised CHW float32 with spec.channels, mirrored when `flip`.
 * NOTE: 3 -> 1 channel is PIL's convert('L'): L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, i.e. ITU-R
 * 601-2 (299/587/114 per mille) rounded.
 */
export function toTensor(px: Uint8Array, h: number, w: number, c: number, spec: TransformSpec, flip = false): Float32Array {
  if (c !== 1 && c !== 3) throw new Error(`toTensor: ${c} channels (expected 1 or 3)`);
  const tables = normTables(spec);
  const out = new Float32Array(spec.channels * h * w);
  const plane = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + (flip ? w - 1 - x : x)) * c;
      const o = y * w + x;
      if (c === 1) {
        for (let k = 0; k < spec.channels; k++) out[k * plane + o] = tables[k][px[p]];
      } else if (spec.channels === 1) {
        out[o] = tables[0][(px[p] * 19595 + px[p + 1] * 38470 + px[p + 2] * 7471 + 0x8000) >>> 16];
      } else {
        for (let k = 0; k < 3; k++) out[k * plane + o] = tables[k][px[p + k]];
      }
    }
  }
  return out;
}

// The geometry both paths share; `flip` is drawn after the crop, in torchvision's order.
export type Plan = { crop?: Box; resize?: [number, number]; after?: Box; flip: boolean };

export function plan(height: number, width: number, spec: TransformSpec, rng: Rng): Plan {
  const S = spec.size;
  if (spec.train && spec.augment) {
    const box = randomResizedCropParams(height, width, rng);
    return { crop: box, resize: [S, S], flip: rng.next() < 0.5 };
  }
  if (height === S && width === S) return { flip: false }; // already the model's size: not resampled
  if (spec.fit === 'fill') return { resize: [S, S], flip: false };
  const [h, w] = shorterSideSize(height, width, evalResizeSize(S));
  return { resize: [h, w], after: centerCropBox(h, w, S), flip: false };
}

/** The same transform on a raw HWC uint8 image (c = 1 or 3), with the Pillow-exact resampler. */
export function transformPixels(px: Uint8Array, height: number, width: number, c: number, spec: TransformSpec, rng: Rng): Float32Array {
  if (!(height > 0 && width > 0) || px.length !== height * width * c) {
    throw new Error(`image of ${px.length} bytes is not ${height}x${width}x${c} (an empty or undecoded image?)`);
  }
  const p = plan(height, width, spec, rng);
  let [h, w] = [height, width];
  if (p.crop) {
    px = crop(px, w, c, p.crop.top, p.crop.left, p.crop.height, p.crop.width);
    [h, w] = [p.crop.height, p.crop.width];
  }
  if (p.resize) {
    px = resizeBilinear(px, w, h, c, p.resize[1], p.resize[0]);
    [h, w] = p.resize;
  }
  if (p.after) {
    px = crop(px, w, c, p.after.top, p.after.left, p.after.height, p.after.width);
    [h, w] = [p.after.height, p.after.width];
  }
  return toTensor(px, h, w, c, spec, p.flip);
}
