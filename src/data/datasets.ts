// What the loader batches: indexable items of shape (channels, height, width) with integer labels.
import type { FolderData } from './folder.js';
import type { ImageArraySet } from './idx.js';
import type { Rng } from '../engine/rng.js';
import { defaultNormalization, transformImage, transformPixels } from './transforms.js';
import type { TransformSpec } from './transforms.js';

export interface Dataset {
  readonly length: number;
  readonly classes: readonly string[];
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Item i as CHW float32; `train` picks the training transform, `rng` its randomness. */
  get(i: number, train: boolean, rng: Rng): Promise<Float32Array>;
  label(i: number): number;
  /** How warnings name item i (a file path for image folders). */
  describe(i: number): string;
}

export interface ImageOptions {
  size: number;
  channels?: 1 | 3; // default 3
  augment?: boolean; // default true: RandomResizedCrop + flip for training items
  mean?: readonly number[]; // default ImageNet's for 3 channels, 0.5 for 1
  std?: readonly number[];
  fit?: 'crop' | 'fill';
  resampler?: 'sharp' | 'pillow';
}

function transformSpecs(o: ImageOptions, fit: 'crop' | 'fill'): Record<'train' | 'eval', TransformSpec> {
  const channels = o.channels ?? 3;
  const norm = defaultNormalization(channels);
  const base = {
    size: o.size,
    channels,
    augment: o.augment ?? true,
    mean: o.mean ?? norm.mean,
    std: o.std ?? norm.std,
    fit: o.fit ?? fit,
    resampler: o.resampler,
  };
  return { train: { ...base, train: true }, eval: { ...base, train: false } };
}

/** Images transformed to (channels, size, size): the training transform and the eval one, from the options. */
abstract class TransformedDataset implements Dataset {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  protected readonly specs: Record<'train' | 'eval', TransformSpec>;

  /** `fit`: how the eval transform resizes unless the options say. */
  constructor(opts: ImageOptions, fit: 'crop' | 'fill') {
    this.specs = transformSpecs(opts, fit);
    this.channels = this.specs.train.channels;
    this.height = this.width = opts.size;
  }

  abstract readonly length: number;
  abstract readonly classes: readonly string[];
  abstract get(i: number, train: boolean, rng: Rng): Promise<Float32Array>;
  abstract label(i: number): number;
  abstract describe(i: number): string;
}

/** Image files decoded and transformed by sharp (ImageFolder or Kaggle flat layout). */
export class ImageFolderDataset extends TransformedDataset {
  constructor(readonly data: FolderData, opts: ImageOptions) {
    super(opts, 'crop');
  }

  get length(): number { return this.data.samples.length; }
  get classes(): readonly string[] { return this.data.classes; }
  label(i: number): number { return this.data.samples[i].label; }
  describe(i: number): string { return this.data.samples[i].path; }

  get(i: number, train: boolean, rng: Rng): Promise<Float32Array> {
    return transformImage(this.data.samples[i].path, train ? this.specs.train : this.specs.eval, rng);
  }
}

/**
 * Grayscale uint8 arrays (Fashion-MNIST), transformed in JS. The eval resize defaults to 'fill' (the whole
 * 28x28 image scaled to SxS), since a centre crop would cut the garment.
 */
export class ImageArrayDataset extends TransformedDataset {
  constructor(readonly set: ImageArraySet, opts: ImageOptions) {
    super(opts, 'fill');
  }

  get length(): number { return this.set.n; }
  get classes(): readonly string[] { return this.set.classes; }
  label(i: number): number { return this.set.labels[i]; }
  describe(i: number): string { return `image ${i}`; }

  async get(i: number, train: boolean, rng: Rng): Promise<Float32Array> {
    const { h, w, c } = this.set;
    const px = this.set.images.subarray(i * h * w * c, (i + 1) * h * w * c);
    return transformPixels(px, h, w, c, train ? this.specs.train : this.specs.eval, rng);
  }
}

/** Ready tensors x (N,C,H,W) and labels y (N); no transform. */
export class TensorDataset implements Dataset {
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: readonly string[];

  constructor(readonly x: Float32Array, readonly y: Int32Array, shape: readonly [number, number, number, number], classes?: readonly string[]) {
    const [n, c, h, w] = shape;
    if (x.length !== n * c * h * w) throw new Error(`TensorDataset: x has ${x.length} values, shape ${shape.join('x')} needs ${n * c * h * w}`);
    if (y.length !== n) throw new Error(`TensorDataset: ${y.length} labels for ${n} items`);
    [this.length, this.channels, this.height, this.width] = shape;
    this.classes = classes ?? Array.from({ length: y.reduce((a, b) => Math.max(a, b), 0) + 1 }, (_, k) => String(k));
  }

  label(i: number): number { return this.y[i]; }
  describe(i: number): string { return `item ${i}`; }

  async get(i: number): Promise<Float32Array> {
    const size = this.channels * this.height * this.width;
    return this.x.subarray(i * size, (i + 1) * size);
  }
}
