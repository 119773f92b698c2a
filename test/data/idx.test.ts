import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist, loadIdxImages, parseIdx, readIdx } from '../../src/data/idx.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

function idx(dims: number[], data: Uint8Array, type = 0x08): Uint8Array {
  const buf = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(buf.buffer);
  buf.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  buf.set(data, 4 + 4 * dims.length);
  return buf;
}

const images = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 37) % 256);
const labels = Uint8Array.from([2, 0, 9]);

describe('IDX', () => {
  it('reads plain and gzipped files (by magic, whatever the name)', () => {
    const plain = join(tmp.dir, 'plain-idx3-ubyte');
    const gz = join(tmp.dir, 'images-idx3-ubyte.gz');
    const gzNoSuffix = join(tmp.dir, 'gz-without-suffix');
    writeFileSync(plain, idx([3, 4, 5], images));
    writeFileSync(gz, gzipSync(idx([3, 4, 5], images)));
    writeFileSync(gzNoSuffix, gzipSync(idx([3, 4, 5], images)));
    for (const f of [plain, gz, gzNoSuffix]) {
      const a = readIdx(f);
      expect(a.dims).toEqual([3, 4, 5]);
      expect(a.data).toEqual(images);
    }
  });

  it('validates magic, type and size, naming the file', () => {
    expect(() => parseIdx(Uint8Array.from([1, 2, 3, 4]), 'x.idx')).toThrow('x.idx: not an IDX file (bad magic number)');
    expect(() => parseIdx(idx([2], Uint8Array.from([1, 2]), 0x0d), 'f.idx')).toThrow(/f\.idx: unsupported IDX data type 0xd/);
    expect(() => parseIdx(idx([3, 4, 5], images).subarray(0, 50), 'short.idx')).toThrow(/short\.idx: IDX header says 3x4x5 = 60 bytes of data but the file has 34/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 2, 0]), 'h.idx')).toThrow(/h\.idx: truncated IDX header/);
    const bad = join(tmp.dir, 'bad.gz');
    writeFileSync(bad, Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    expect(() => readIdx(bad)).toThrow(`${bad}: corrupt gzip data`);
    expect(() => readIdx(join(tmp.dir, 'none'))).toThrow(/none: cannot read/);
  });

  it('pairs images with labels', () => {
    const im = join(tmp.dir, 'im');
    const lb = join(tmp.dir, 'lb');
    writeFileSync(im, idx([3, 4, 5], images));
    writeFileSync(lb, idx([3], labels));
    const set = loadIdxImages(im, lb, FASHION_MNIST_CLASSES);
    expect(set).toMatchObject({ n: 3, h: 4, w: 5, c: 1, labels, images });
    writeFileSync(lb, idx([3], Uint8Array.from([1, 10, 2])));
    expect(() => loadIdxImages(im, lb, FASHION_MNIST_CLASSES)).toThrow(`${lb}: label 10 at 1 is out of range for 10 classes`);
    writeFileSync(lb, idx([2], Uint8Array.from([1, 2])));
    expect(() => loadIdxImages(im, lb, FASHION_MNIST_CLASSES)).toThrow(/2 labels for 3 images/);
    expect(() => loadIdxImages(lb, lb, FASHION_MNIST_CLASSES)).toThrow(/expected 3 dimensions/);
  });

  it("finds Debian's file names (.gz) and unpacked dotted ones", () => {
    const deb = join(tmp.dir, 'deb');
    const dotted = join(tmp.dir, 'dotted');
    for (const d of [deb, dotted]) mkdirSync(d);
    for (const split of ['train', 't10k']) {
      writeFileSync(join(deb, `${split}-images-idx3-ubyte.gz`), gzipSync(idx([3, 4, 5], images)));
      writeFileSync(join(deb, `${split}-labels-idx1-ubyte.gz`), gzipSync(idx([3], labels)));
      writeFileSync(join(dotted, `${split}-images.idx3-ubyte`), idx([3, 4, 5], images));
      writeFileSync(join(dotted, `${split}-labels.idx1-ubyte`), idx([3], labels));
    }
    for (const d of [deb, dotted]) {
      const { train, test } = loadFashionMnist(d);
      expect(train.n).toBe(3);
      expect(test.labels).toEqual(labels);
      expect(train.classes[9]).toBe('Ankle boot');
    }
    expect(() => loadFashionMnist(join(tmp.dir, 'nope'))).toThrow(/Fashion-MNIST folder not found/);
    expect(() => loadFashionMnist(tmp.dir)).toThrow(/no train-images-idx3-ubyte\[\.gz\] in/);
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('loads the real Fashion-MNIST', () => {
    const { train, test } = loadFashionMnist();
    for (const [set, n] of [[train, 60000], [test, 10000]] as const) {
      expect(set).toMatchObject({ n, h: 28, w: 28, c: 1 });
      expect(set.images.length).toBe(n * 28 * 28);
      const counts = new Array(10).fill(0);
      for (const l of set.labels) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(n / 10)); // balanced classes
    }
  });
});
