// What `--data` names, opened as training and validation datasets: an image folder
// (ImageFolder or Kaggle's flat layout, with optional train/ and val/), Fashion-MNIST
// IDX files, or a safetensors file of tensors x (N,C,H,W) and y (N).

import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { openSafetensors, toFloat32, toInt32 } from '../io/safetensors_file.js';
import { ImageArrayDataset, ImageFolderDataset, TensorDataset, type Dataset } from './datasets.js';
import { checkSameClasses, loadSplit, type FolderData } from './folder.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from './idx.js';

export type DataKind = 'images' | 'fashion-mnist' | 'tensors';

/** A data argument resolved, before the model's input size is known. */
export interface DataSource {
  kind: DataKind;
  description: string;
  classes: string[];
  channels: number;
  /** Native side of the images (0 for image folders, whose images vary). */
  nativeSize: number;
  /** What was left out while reading it (links not followed), one line each. */
  warnings?: string[];
  open(o: OpenOptions): { train: Dataset; val: Dataset | null };
}

export interface OpenOptions {
  size: number;
  channels: number;
  augment: boolean;
  mean: number[];
  std: number[];
}

/** A folder holding IDX files (train-images-idx3-ubyte[.gz], t10k-...). */
function isFashionDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory() && readdirSync(p).some((n) => /^(train|t10k)-images[-.]idx3-ubyte/.test(n));
}

/** Resolves `--data` (and `--val`); `undefined` means ./data when it exists, else Fashion-MNIST. */
export function resolveData(arg: string | undefined, valArg?: string): DataSource {
  const chosen = arg ?? (existsSync('data') ? 'data' : 'fashion-mnist');
  const train = resolveOne(chosen);
  if (!valArg) return train;
  const val = resolveOne(valArg);
  checkSameClasses(train.classes, val.classes, [chosen, valArg]);
  return {
    ...train,
    warnings: [...(train.warnings ?? []), ...(val.warnings ?? [])],
    description: `${train.description}; validation: ${val.description}`,
    open: (o) => ({ train: train.open(o).train, val: val.open(o).train }),
  };
}

function resolveOne(arg: string): DataSource {
  if (arg === 'fashion-mnist' || isFashionDir(arg)) {
    const dir = arg === 'fashion-mnist' ? FASHION_MNIST_DIR : arg;
    const { train, test } = loadFashionMnist(dir);
    return {
      kind: 'fashion-mnist',
      description: `Fashion-MNIST from ${dir} (${train.n} training, ${test.n} test images, 28x28x1)`,
      classes: train.classes,
      channels: 1,
      nativeSize: 28,
      open: (o) => ({
        train: new ImageArrayDataset(train, { ...imageOpts(o), augment: false }),
        val: new ImageArrayDataset(test, { ...imageOpts(o), augment: false }),
      }),
    };
  }
  if (!existsSync(arg)) throw new Error(`data not found: ${arg}`);
  if (statSync(arg).isFile()) {
    if (extname(arg) !== '.safetensors') throw new Error(`${arg}: not a data folder or a .safetensors tensor file`);
    return tensorFile(arg);
  }
  const split = loadSplit(arg);
  const count = (f: FolderData | null) => (f ? f.samples.length : 0);
  return {
    kind: 'images',
    description: `images in ${arg} (${count(split.train)} training${split.val ? `, ${count(split.val)} validation` : ', no validation set'}; classes ${split.train.classes.join(', ')})`,
    classes: split.train.classes,
    channels: 3,
    nativeSize: 0,
    warnings: [...split.train.skipped, ...(split.val?.skipped ?? [])],
    open: (o) => ({
      train: new ImageFolderDataset(split.train, imageOpts(o)),
      val: split.val ? new ImageFolderDataset(split.val, imageOpts(o)) : null,
    }),
  };
}

function imageOpts(o: OpenOptions) {
  return { size: o.size, channels: o.channels as 1 | 3, augment: o.augment, mean: o.mean, std: o.std };
}

/** x: float32 (N,C,H,W), already normalised; y: integer (N). */
function tensorFile(path: string): DataSource {
  const f = openSafetensors(path);
  for (const k of ['x', 'y']) if (!f.keys().includes(k)) throw new Error(`${path}: no tensor "${k}" (a tensor data file holds x (N,C,H,W) and y (N))`);
  const xi = f.info('x'), yi = f.info('y');
  if (xi.shape.length !== 4) throw new Error(`${path}: x must be (N,C,H,W), got [${xi.shape}]`);
  if (xi.shape[2] !== xi.shape[3]) throw new Error(`${path}: images must be square, got ${xi.shape[2]}x${xi.shape[3]}`);
  if (yi.shape.length !== 1 || yi.shape[0] !== xi.shape[0]) throw new Error(`${path}: y must be (${xi.shape[0]}), got [${yi.shape}]`);
  const x = toFloat32(f.read('x'));
  const bad = x.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${path}: x[${Math.floor(bad / (x.length / xi.shape[0]))}] holds NaN or infinite values`);
  const y = toInt32(f.read('y'));
  const classes = f.metadata.classes ? (JSON.parse(f.metadata.classes) as string[]) : undefined;
  const [n, c, h, w] = xi.shape as [number, number, number, number];
  const ds = new TensorDataset(x, y, [n, c, h, w], classes);
  if (y.some((v) => v < 0 || v >= ds.classes.length)) throw new Error(`${path}: labels must be in [0, ${ds.classes.length})`);
  return {
    kind: 'tensors',
    description: `tensors in ${path} (${n} items, ${c}x${h}x${w})`,
    classes: [...ds.classes],
    channels: c,
    nativeSize: h,
    open: (o) => {
      if (o.size !== h || o.channels !== c) throw new Error(`${path}: holds ${c}x${h}x${w} tensors, the model needs ${o.channels}x${o.size}x${o.size}`);
      return { train: ds, val: null };
    },
  };
}

