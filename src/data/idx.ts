// IDX files (MNIST, Fashion-MNIST): big-endian header 0x00 0x00 <type> <ndims>, ndims u32 sizes, then data.
// Read plain or gzipped (by the gzip magic, whatever the suffix).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { numel } from '../engine/tensor.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Grayscale uint8 images (N,H,W) with their labels. */
export interface ImageArraySet {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
  h: number;
  w: number;
  c: 1;
  classes: string[];
}

function fail(file: string, msg: string): never {
  throw new Error(`${file}: ${msg}`);
}

export function parseIdx(buf: Uint8Array, name = '<buffer>'): IdxArray {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) fail(name, 'not an IDX file (bad magic number)');
  if (buf[2] !== 0x08) fail(name, `unsupported IDX data type 0x${buf[2].toString(16)} (only unsigned bytes, 0x08)`);
  const nd = buf[3];
  const header = 4 + 4 * nd;
  if (nd === 0 || buf.length < header) fail(name, `truncated IDX header (${nd} dimensions, ${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = numel(dims);
  if (buf.length !== header + size) {
    fail(name, `IDX header says ${dims.join('x')} = ${size} bytes of data but the file has ${buf.length - header}`);
  }
  return { dims, data: new Uint8Array(buf.subarray(header)) }; // a plain copy, not a Buffer view
}

export function readIdx(path: string): IdxArray {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (err) {
    fail(path, `cannot read: ${(err as Error).message}`);
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      fail(path, `corrupt gzip data: ${(err as Error).message}`);
    }
  }
  return parseIdx(buf, path);
}

export function loadIdxImages(imagesPath: string, labelsPath: string, classes: string[]): ImageArraySet {
  const im = readIdx(imagesPath);
  const lb = readIdx(labelsPath);
  if (im.dims.length !== 3) fail(imagesPath, `expected 3 dimensions (N,H,W), got ${im.dims.join('x')}`);
  if (lb.dims.length !== 1) fail(labelsPath, `expected 1 dimension (N), got ${lb.dims.join('x')}`);
  const [n, h, w] = im.dims;
  if (lb.dims[0] !== n) fail(labelsPath, `${lb.dims[0]} labels for ${n} images in ${imagesPath}`);
  const bad = lb.data.findIndex((l) => l >= classes.length);
  if (bad >= 0) fail(labelsPath, `label ${lb.data[bad]} at ${bad} is out of range for ${classes.length} classes`);
  return { images: im.data, labels: lb.data, n, h, w, c: 1, classes };
}

// Debian's dataset-fashion-mnist ships train-images-idx3-ubyte.gz; other copies are unpacked or use a dot.
function findIdx(dir: string, split: string, what: string): string {
  const names = [`${split}-${what}-ubyte`, `${split}-${what.replace('-', '.')}-ubyte`];
  const candidates = names.flatMap((n) => [join(dir, n), join(dir, `${n}.gz`)]);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`Fashion-MNIST: no ${names[0]}[.gz] in ${dir}`);
  return found;
}

export function loadFashionMnist(dir = FASHION_MNIST_DIR): { train: ImageArraySet; test: ImageArraySet } {
  if (!existsSync(dir)) throw new Error(`Fashion-MNIST folder not found: ${dir} (Debian: apt-get install dataset-fashion-mnist)`);
  const load = (split: string): ImageArraySet =>
    loadIdxImages(findIdx(dir, split, 'images-idx3'), findIdx(dir, split, 'labels-idx1'), FASHION_MNIST_CLASSES);
  return { train: load('train'), test: load('t10k') };
}
