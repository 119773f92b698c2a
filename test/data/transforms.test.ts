import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crop, resizeBilinear } from '../../src/data/resample.js';
import { Rng } from '../../src/engine/rng.js';
import {
  IMAGENET_MEAN, IMAGENET_STD, centerCropBox, evalResizeSize, pyRound, randomResizedCropParams, shorterSideSize,
  toTensor, transformImage, transformPixels,
} from '../../src/data/transforms.js';
import type { TransformSpec } from '../../src/data/transforms.js';
import { corrupt, gradient, pixels, tempDir, writeImage } from './fixtures.js';

const tmp = tempDir();
afterAll(tmp.cleanup);
const file = (name: string): string => join(tmp.dir, name);

const spec = (size: number, o: Partial<TransformSpec> = {}): TransformSpec => ({
  size, channels: 3, train: false, augment: true, mean: IMAGENET_MEAN, std: IMAGENET_STD, ...o,
});
// torch's float32 steps: ToTensor's v / 255, then Normalize's sub_(mean).div_(std).
const f = Math.fround;
const norm = (v: number, m: number, s: number): number => f(f(f(v) / 255) - f(m)) / f(s);
// Expected ToTensor + Normalize of HWC uint8 pixels (1 channel replicated), computed directly.
function expectedTensor(px: Uint8Array, h: number, w: number, c: number, channels = 3, mean = IMAGENET_MEAN, std = IMAGENET_STD): Float32Array {
  const out = new Float32Array(channels * h * w);
  for (let k = 0; k < channels; k++) {
    for (let i = 0; i < h * w; i++) out[k * h * w + i] = norm(px[i * c + (c === 1 ? 0 : k)], mean[k], std[k]);
  }
  return out;
}
// Back from normalised values to 0..255 levels, to compare images in pixel units.
const levels = (t: Float32Array, plane: number): number[] =>
  Array.from(t, (v, i) => (v * IMAGENET_STD[Math.floor(i / plane)] + IMAGENET_MEAN[Math.floor(i / plane)]) * 255);
const maxDiff = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

/** An Rng that replays the given draws. */
function scripted(draws: number[]): Rng {
  const next = (): number => {
    if (draws.length === 0) throw new Error('scripted rng exhausted');
    return draws.shift()!;
  };
  return { next, int: (n: number) => Math.floor(next() * n), uniform: (a: number, b: number) => a + (b - a) * next() } as unknown as Rng;
}

describe('geometry', () => {
  it('rounds like Python', () => {
    expect([0.5, 1.5, 2.5, 58.5, 2.4, 2.6, -0.5, -1.5].map(pyRound)).toEqual([0, 2, 2, 58, 2, 3, 0, -2]);
  });

  // torchvision's get_params, transcribed separately: scale and log-ratio drawn per attempt, then top, left.
  function reference(height: number, width: number, rng: Rng): number[] {
    const half = (x: number): number => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));
    for (let t = 0; t < 10; t++) {
      const target = height * width * (0.08 + (1 - 0.08) * rng.next());
      const logr = Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * rng.next();
      const w = half(Math.sqrt(target * Math.exp(logr)));
      const h = half(Math.sqrt(target / Math.exp(logr)));
      if (w >= 1 && h >= 1 && w <= width && h <= height) {
        const top = Math.floor(rng.next() * (height - h + 1));
        return [top, Math.floor(rng.next() * (width - w + 1)), h, w];
      }
    }
    return [];
  }

  it('RandomResizedCrop parameters follow torchvision for seeded draws', () => {
    let fallbacks = 0;
    for (let seed = 0; seed < 300; seed++) {
      for (const [H, W] of [[375, 500], [30, 40], [224, 224], [600, 200]]) {
        const b = randomResizedCropParams(H, W, new Rng(seed));
        expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= H && b.left + b.width <= W).toBe(true);
        const ref = reference(H, W, new Rng(seed));
        if (ref.length === 0) {
          fallbacks++;
          continue;
        }
        expect([b.top, b.left, b.height, b.width]).toEqual(ref);
        const frac = (b.height * b.width) / (H * W);
        expect(frac).toBeGreaterThanOrEqual(0.08 * 0.85); // rounding w and h on the 30x40 image
        expect(frac).toBeLessThanOrEqual(1);
        expect(b.width / b.height).toBeGreaterThanOrEqual((3 / 4) * 0.9);
        expect(b.width / b.height).toBeLessThanOrEqual((4 / 3) / 0.9);
      }
    }
    expect(fallbacks).toBeLessThan(30); // the 600x200 image needs a few
  });

  it('RandomResizedCrop maps draws to boxes exactly and falls back to a clamped central crop', () => {
    // scale 0.08 + 0.92*0.5 = 0.54 of 100x100, ratio exp(0) = 1: 73x73 at top 0, left floor(0.999*28)
    expect(randomResizedCropParams(100, 100, scripted([0.5, 0.5, 0, 0.999]))).toEqual({ top: 0, left: 27, height: 73, width: 73 });
    // 10x1000 and 1000x10 never fit a 3/4..4/3 crop of 8% area: central crop at the nearest ratio
    expect(randomResizedCropParams(10, 1000, new Rng(3))).toEqual({ top: 0, left: 493, height: 10, width: 13 });
    expect(randomResizedCropParams(1000, 10, new Rng(3))).toEqual({ top: 493, left: 0, height: 13, width: 10 });
  });

  it('Resize(shorter side) and CenterCrop sizes follow torchvision', () => {
    expect(evalResizeSize(224)).toBe(256);
    expect(evalResizeSize(32)).toBe(37);
    expect(shorterSideSize(375, 500, 256)).toEqual([256, 341]);
    expect(shorterSideSize(500, 375, 256)).toEqual([341, 256]);
    expect(shorterSideSize(30, 30, 37)).toEqual([37, 37]);
    expect(centerCropBox(256, 341, 224)).toEqual({ top: 16, left: 58, height: 224, width: 224 }); // round(58.5) = 58
    expect(centerCropBox(12, 8, 7)).toEqual({ top: 2, left: 0, height: 7, width: 7 });
  });
});

describe('Pillow bilinear resize', () => {
  it('matches hand-computed Pillow values', () => {
    expect([...resizeBilinear(Uint8Array.from([0, 255]), 2, 1, 1, 4, 1)]).toEqual([0, 64, 191, 255]);
    const ramp = Uint8Array.from({ length: 8 }, (_, i) => i * 30);
    expect([...resizeBilinear(ramp, 8, 1, 1, 16, 1)]).toEqual([0, 8, 23, 38, 53, 68, 83, 98, 113, 128, 143, 158, 173, 188, 203, 210]);
    // 2x down: the triangle widens to 2 pixels each side (antialias): (0*.75 + 10*.75 + 20*.25) / 1.75
    expect([...resizeBilinear(Uint8Array.from([0, 10, 20, 30]), 4, 1, 1, 2, 1)]).toEqual([7, 23]);
    expect([...resizeBilinear(Uint8Array.from([0, 10, 20, 30]), 1, 4, 1, 1, 2)]).toEqual([7, 23]); // vertically too
    const px = pixels(5, 4, 3, gradient);
    expect(resizeBilinear(px, 5, 4, 3, 5, 4)).toEqual(px);
    expect([...crop(px, 5, 3, 1, 2, 2, 2)]).toEqual([...px.slice(21, 27), ...px.slice(36, 42)]);
  });
});

describe('ToTensor + Normalize', () => {
  it('computes (v/255 - mean) / std per channel, CHW, mirrored on flip', () => {
    const px = Uint8Array.from([0, 128, 255, 10, 20, 30]); // 1x2 RGB
    const t = toTensor(px, 1, 2, 3, spec(2));
    expect(t.length).toBe(6);
    const want = [(0 / 255 - 0.485) / 0.229, (10 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (20 / 255 - 0.456) / 0.224, (255 / 255 - 0.406) / 0.225, (30 / 255 - 0.406) / 0.225];
    t.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    const f = toTensor(px, 1, 2, 3, spec(2), true);
    expect([f[0], f[1], f[2], f[3]]).toEqual([t[1], t[0], t[3], t[2]]);
  });

  it('converts gray to 3 equal levels and RGB to PIL luminance', () => {
    const gray = toTensor(Uint8Array.from([77]), 1, 1, 1, spec(1, { mean: [0.5], std: [0.5] }));
    expect([...gray]).toEqual([gray[0], gray[0], gray[0]]);
    expect(gray[0]).toBeCloseTo((77 / 255 - 0.5) / 0.5, 6);
    for (const [r, g, b] of [[10, 200, 30], [255, 0, 0], [1, 2, 3], [255, 255, 255], [128, 64, 250]]) {
      const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
      expect(Math.abs(l - (r * 299 + g * 587 + b * 114) / 1000)).toBeLessThanOrEqual(0.5);
      const t = toTensor(Uint8Array.from([r, g, b]), 1, 1, 3, spec(1, { channels: 1, mean: [0.5], std: [0.5] }));
      expect(t.length).toBe(1);
      expect(t[0]).toBeCloseTo((l / 255 - 0.5) / 0.5, 6);
    }
  });

  it('rejects mean/std that do not fit the channels', async () => {
    expect(() => toTensor(new Uint8Array(3), 1, 1, 3, spec(1, { mean: [0.1, 0.2] }))).toThrow(/Normalize: mean\/std have 2\/3 values for 3 channels/);
    await expect(transformImage(file('none.png'), spec(4, { std: [1, 2] }), new Rng(0))).rejects.toThrow(/^Normalize/);
  });
});

describe('transformImage (sharp)', () => {
  const grad16 = pixels(16, 16, 3, gradient);
  const grad40 = pixels(40, 30, 3, gradient);
  beforeAll(async () => {
    await writeImage(file('solid.png'), pixels(40, 30, 3, () => [200, 100, 50]), 40, 30, 3);
    await writeImage(file('grad16.png'), grad16, 16, 16, 3);
    await writeImage(file('grad8x12.png'), pixels(8, 12, 3, gradient), 8, 12, 3);
    await writeImage(file('grad40.png'), grad40, 40, 30, 3);
    await writeImage(file('gray.png'), pixels(16, 16, 1, (x, y) => [x * 10 + y]), 16, 16, 1);
    await writeImage(file('rgba.png'), pixels(16, 16, 4, (x, y) => [...gradient(x, y), 100]), 16, 16, 4);
    await writeImage(file('photo.jpg'), grad40, 40, 30, 3);
    await writeImage(file('photo.webp'), grad40, 40, 30, 3);
    await sharp(Buffer.from(grad40), { raw: { width: 40, height: 30, channels: 3 } }).toColourspace('cmyk').jpeg().toFile(file('cmyk.jpg'));
    const frames = pixels(16, 32, 3, (_, y) => (y < 16 ? [255, 0, 0] : [0, 0, 255])); // red page, then blue page
    await sharp(Buffer.from(frames), { raw: { width: 16, height: 32, channels: 3, pageHeight: 16 } }).gif().toFile(file('anim.gif'));
    corrupt(file('corrupt.jpg'));
    const jpg = readFileSync(file('photo.jpg'));
    writeFileSync(file('truncated.jpg'), jpg.subarray(0, jpg.length >> 1));
  });

  it('normalises a solid colour exactly, whatever the crop', async () => {
    const want = expectedTensor(Uint8Array.from([200, 100, 50]), 1, 1, 3);
    for (const s of [spec(16), spec(16, { train: true }), spec(16, { fit: 'fill' }), spec(64, { train: true })]) {
      const t = await transformImage(file('solid.png'), s, new Rng(5));
      expect(t.length).toBe(3 * s.size * s.size);
      for (let k = 0; k < 3; k++) expect(new Set(t.subarray(k * s.size ** 2, (k + 1) * s.size ** 2))).toEqual(new Set([want[k]]));
    }
  });

  it('does not resample an image of the target size', async () => {
    expect(await transformImage(file('grad16.png'), spec(16), new Rng(0))).toEqual(expectedTensor(grad16, 16, 16, 3));
    expect(await transformImage(file('grad16.png'), spec(16, { train: true, augment: false }), new Rng(0))).toEqual(expectedTensor(grad16, 16, 16, 3));
  });

  it('center-crops at torchvision offsets', async () => {
    // S = 7: Resize(8) leaves 8x12 as it is, CenterCrop(7) starts at top round(2.5) = 2, left round(0.5) = 0
    const t = await transformImage(file('grad8x12.png'), spec(7), new Rng(0));
    expect(t).toEqual(expectedTensor(crop(pixels(8, 12, 3, gradient), 8, 3, 2, 0, 7, 7), 7, 7, 3));
  });

  it('resizes like Pillow within 2 levels when downscaling; the pillow resampler is exact', async () => {
    const viaSharp = await transformImage(file('grad40.png'), spec(16), new Rng(0));
    const viaPillow = await transformImage(file('grad40.png'), spec(16, { resampler: 'pillow' }), new Rng(0));
    // Resize(18): 40x30 -> 24x18, CenterCrop(16) at top 1, left 4
    const ref = crop(resizeBilinear(grad40, 40, 30, 3, 24, 18), 24, 3, 1, 4, 16, 16);
    expect(viaPillow).toEqual(expectedTensor(ref, 16, 16, 3));
    expect(maxDiff(levels(viaSharp, 256), levels(viaPillow, 256))).toBeLessThanOrEqual(2);
  });

  it('flips after RandomResizedCrop when the draw says so', async () => {
    const plain = await transformImage(file('grad16.png'), spec(16), new Rng(0));
    const mirrored = new Float32Array(plain.length);
    for (let r = 0; r < 3 * 16; r++) for (let x = 0; x < 16; x++) mirrored[r * 16 + x] = plain[r * 16 + 15 - x];
    for (const resampler of ['sharp', 'pillow'] as const) {
      // draws: scale ~1, ratio 1 -> the whole 16x16 image at (0, 0); then the flip draw
      const flipped = await transformImage(file('grad16.png'), spec(16, { train: true, resampler }), scripted([0.9999999, 0.5, 0, 0, 0.1]));
      expect(flipped).toEqual(mirrored);
      const kept = await transformImage(file('grad16.png'), spec(16, { train: true, resampler }), scripted([0.9999999, 0.5, 0, 0, 0.9]));
      expect(kept).toEqual(plain);
    }
  });

  it('random crops are seeded, and sharp follows the same crop as Pillow', async () => {
    const s = spec(24, { train: true });
    const a = await transformImage(file('grad40.png'), s, new Rng(11));
    expect(await transformImage(file('grad40.png'), s, new Rng(11))).toEqual(a);
    expect(await transformImage(file('grad40.png'), s, new Rng(12))).not.toEqual(a);
    const p = await transformImage(file('grad40.png'), { ...s, resampler: 'pillow' }, new Rng(11));
    expect(maxDiff(levels(a, 576), levels(p, 576))).toBeLessThanOrEqual(8); // libvips' upscale shift (see transforms.ts)
  });

  it('decodes gray, RGBA, CMYK, JPEG, WebP and the first GIF frame to RGB', async () => {
    const gray = await transformImage(file('gray.png'), spec(16), new Rng(0));
    const g = levels(gray, 256);
    for (let i = 0; i < 256; i++) {
      expect(g[i]).toBeCloseTo((i % 16) * 10 + Math.floor(i / 16), 3);
      expect(g[i + 256]).toBeCloseTo(g[i], 3);
      expect(g[i + 512]).toBeCloseTo(g[i], 3);
    }
    expect(await transformImage(file('rgba.png'), spec(16), new Rng(0))).toEqual(expectedTensor(grad16, 16, 16, 3));
    const ref = levels(expectedTensor(crop(resizeBilinear(grad40, 40, 30, 3, 24, 18), 24, 3, 1, 4, 16, 16), 16, 16, 3), 256);
    for (const [name, tolerance] of [['photo.jpg', 12], ['photo.webp', 2]] as const) {
      const t = await transformImage(file(name), spec(16), new Rng(0));
      expect(maxDiff(levels(t, 256), ref), name).toBeLessThanOrEqual(tolerance);
    }
    // CMYK goes through ICC profiles both ways: close on average, not exact
    const cmyk = levels(await transformImage(file('cmyk.jpg'), spec(16), new Rng(0)), 256);
    expect(cmyk.reduce((a, v, i) => a + Math.abs(v - ref[i]), 0) / cmyk.length).toBeLessThan(20);
    const gif = await transformImage(file('anim.gif'), spec(16), new Rng(0));
    expect(new Set(levels(gif, 256).map((v, i) => Math.round(v) + 1000 * Math.floor(i / 256)))).toEqual(new Set([255, 1000, 2000]));
  });

  it('gives one luminance channel when asked', async () => {
    const t = await transformImage(file('solid.png'), spec(8, { channels: 1, mean: [0.5], std: [0.5] }), new Rng(0));
    const l = (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16;
    expect(t.length).toBe(64);
    expect(new Set(t)).toEqual(new Set([f(norm(l, 0.5, 0.5))]));
  });

  it('rejects unreadable files with an error naming them', async () => {
    for (const name of ['corrupt.jpg', 'truncated.jpg', 'missing.png']) {
      await expect(transformImage(file(name), spec(8), new Rng(0))).rejects.toThrow(`cannot read image ${file(name)}`);
    }
  });
});

describe('transformPixels (raw arrays)', () => {
  const img = pixels(28, 28, 1, (x, y) => [(x * 9 + y * 3) % 256]);
  it('keeps a 28x28 image at 28, upsamples with Pillow bilinear, and replicates gray', () => {
    const s1 = spec(28, { channels: 1, mean: [0.5], std: [0.5] });
    const t = transformPixels(img, 28, 28, 1, s1, new Rng(0));
    expect(t).toEqual(expectedTensor(img, 28, 28, 1, 1, [0.5], [0.5]));
    const up = transformPixels(img, 28, 28, 1, spec(32, { fit: 'fill' }), new Rng(0));
    expect(up).toEqual(expectedTensor(resizeBilinear(img, 28, 28, 1, 32, 32), 32, 32, 1));
    const aug = transformPixels(img, 28, 28, 1, spec(32, { train: true }), new Rng(4));
    expect(aug.length).toBe(3 * 32 * 32);
    expect(transformPixels(img, 28, 28, 1, spec(32, { train: true }), new Rng(4))).toEqual(aug);
  });
});
