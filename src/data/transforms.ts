// torchvision's transforms, on sharp (libvips) for image files and on raw uint8 arrays for IDX data:
//   train (augment): RandomResizedCrop(S, scale 0.08-1, ratio 3/4-4/3), RandomHorizontalFlip(0.5)
//   eval:            Resize(round(256/224*S)) + CenterCrop(S), or Resize((S,S)) with fit 'fill'
//   then ToTensor (/255) and Normalize(mean, std), CHW float32.
// NOTE: like torchvision's PIL loader, EXIF orientation is ignored (no auto-rotation).
// NOTE: sharp's 'linear' kernel is antialiased like PIL's bilinear: downscales agree within 1/255 on smooth
// images, but libvips upscales with pixel centres shifted by about 1/4 input pixel (a 2x upscale of a ramp
// 0,30,60.. gives 0,0,15,30.. where Pillow gives 0,8,23,38..). resampler 'pillow' decodes with sharp and
// resizes in JS, exactly as Pillow (resample.ts), at several ms of main-thread time per image.
import sharp from 'sharp';
import type { ResizeOptions } from 'sharp';
import { normTables, plan, toTensor, transformPixels, type Box, type TransformSpec } from './pixels.js';
import type { Rng } from '../engine/rng.js';

export * from './pixels.js';

const RESIZE: ResizeOptions = { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false };

/** Decode (first frame only, any of JPEG/PNG/WebP/GIF, converted to sRGB without alpha) and transform. */
export async function transformImage(path: string, spec: TransformSpec, rng: Rng): Promise<Float32Array> {
  normTables(spec); // a bad spec is the caller's error, not a bad image
  try {
    const img = sharp(path, { pages: 1, failOn: 'truncated' });
    if (spec.resampler === 'pillow') {
      const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      return transformPixels(data, info.height, info.width, info.channels, spec, rng);
    }
    const { width = 0, height = 0 } = await img.metadata();
    const p = plan(height, width, spec, rng);
    const box = (b: Box) => ({ left: b.left, top: b.top, width: b.width, height: b.height });
    if (p.crop) img.extract(box(p.crop));
    if (p.resize) img.resize(p.resize[1], p.resize[0], RESIZE);
    if (p.after) img.extract(box(p.after));
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.width !== spec.size || info.height !== spec.size) {
      throw new Error(`decoded to ${info.width}x${info.height}, expected ${spec.size}x${spec.size}`);
    }
    return toTensor(data, info.height, info.width, info.channels, spec, p.flip);
  } catch (err) {
    throw new Error(`cannot read image ${path}: ${(err as Error).message}`);
  }
}
