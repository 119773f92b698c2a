import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageArrayDataset, ImageFolderDataset, TensorDataset } from '../../src/data/datasets.js';
import type { Dataset } from '../../src/data/datasets.js';
import { loadFolder } from '../../src/data/folder.js';
import { FASHION_MNIST_CLASSES } from '../../src/data/idx.js';
import { DataLoader } from '../../src/data/loader.js';
import type { Batch } from '../../src/data/loader.js';
import type { Rng } from '../../src/engine/rng.js';
import { corrupt, pixels, tempDir, writeImage } from './fixtures.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

// N items of shape (1,2,2) whose values are all the item's index; label = index % 3.
function tensors(n: number): TensorDataset {
  const x = Float32Array.from({ length: n * 4 }, (_, i) => Math.floor(i / 4));
  return new TensorDataset(x, Int32Array.from({ length: n }, (_, i) => i % 3), [n, 1, 2, 2]);
}
async function collect(loader: DataLoader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}
const ids = (batches: Batch[]): number[] => batches.flatMap((b) => Array.from({ length: b.n }, (_, k) => b.x[k * 4]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DataLoader', () => {
  it('makes batches of the right shapes, keeping or dropping the last one', async () => {
    const ds = tensors(10);
    expect(ds.classes).toEqual(['0', '1', '2']);
    expect(() => new TensorDataset(new Float32Array(7), new Int32Array(2), [2, 1, 2, 2])).toThrow(/x has 7 values, shape 2x1x2x2 needs 8/);
    expect(() => new TensorDataset(new Float32Array(8), new Int32Array(3), [2, 1, 2, 2])).toThrow(/3 labels for 2 items/);
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: false });
    expect(loader.length).toBe(3);
    const batches = await collect(loader, 0);
    expect(batches.map((b) => [b.n, b.x.length, b.y.length, b.skipped.length])).toEqual([[4, 16, 4, 0], [4, 16, 4, 0], [2, 8, 2, 0]]);
    expect(ids(batches)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...batches[1].y]).toEqual([1, 2, 0, 1]);
    const dropped = new DataLoader(ds, { batchSize: 4, shuffle: false, dropLast: true });
    expect(dropped.length).toBe(2);
    expect((await collect(dropped, 0)).map((b) => b.n)).toEqual([4, 4]);
  });

  it('shuffles by seed and epoch', async () => {
    const ds = tensors(50);
    const a = new DataLoader(ds, { batchSize: 8, seed: 1 });
    const e0 = ids(await collect(a, 0));
    expect([...e0].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(e0).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(ids(await collect(new DataLoader(ds, { batchSize: 8, seed: 1 }), 0))).toEqual(e0);
    expect(ids(await collect(a, 1))).not.toEqual(e0);
    expect(ids(await collect(new DataLoader(ds, { batchSize: 8, seed: 2 }), 0))).not.toEqual(e0);
    const batches = await collect(a, 3);
    batches.forEach((b) => Array.from(b.y).forEach((label, k) => expect(label).toBe(b.x[k * 4] % 3))); // labels follow items
  });

  it('gives each item its own seeded stream, whatever the completion order', async () => {
    let calls = 0;
    const ds: Dataset = {
      length: 12, classes: ['a', 'b'], channels: 1, height: 1, width: 1,
      label: (i) => i % 2,
      describe: (i) => `#${i}`,
      async get(_i: number, train: boolean, rng: Rng) {
        expect(train).toBe(true);
        await sleep(((calls++ * 7) % 5) + 1); // finish out of order
        return Float32Array.of(rng.next());
      },
    };
    const run = async () => (await collect(new DataLoader(ds, { batchSize: 5, seed: 9 }), 2)).flatMap((b) => [...b.x]);
    const first = await run();
    expect(await run()).toEqual(first);
    expect(new Set(first).size).toBe(12);
  });

  it('prefetches the next batches while the consumer works, with bounded concurrency', async () => {
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const ds: Dataset = {
      length: 12, classes: ['a', 'b'], channels: 1, height: 1, width: 1,
      label: () => 0,
      describe: (i) => `#${i}`,
      async get(i: number) {
        log.push(`start ${i}`);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await sleep(2);
        inFlight--;
        log.push(`done ${i}`);
        return Float32Array.of(i);
      },
    };
    const loader = new DataLoader(ds, { batchSize: 2, shuffle: false, prefetch: 2, concurrency: 3 });
    let b = 0;
    for await (const batch of loader.epoch(0)) {
      expect([...batch.x]).toEqual([2 * b, 2 * b + 1]);
      log.push(`got ${b}`);
      if (b === 0) {
        // batches 1 and 2 were queued before batch 0 was handed over (3 at a time), batch 3 was not
        expect(log).toContain('start 4');
        expect(log).not.toContain('start 6');
      }
      await sleep(25); // the consumer's work: the queued items finish meanwhile
      log.push(`ask ${b + 1}`);
      b++;
    }
    expect(b).toBe(6);
    expect(log.indexOf('done 5')).toBeLessThan(log.indexOf('ask 1'));
    expect(log.indexOf('start 7')).toBeLessThan(log.indexOf('ask 2'));
    expect(maxInFlight).toBe(3);
  });

  it('stops cleanly when the consumer breaks early', async () => {
    const loader = new DataLoader(tensors(100), { batchSize: 4 });
    for await (const batch of loader.epoch(0)) {
      expect(batch.n).toBe(4);
      break;
    }
    expect((await collect(loader, 1)).length).toBe(25);
  });

  it('batches Fashion-MNIST-like arrays, as 1 or 3 channels at any size', async () => {
    const n = 5;
    const set = { images: pixels(28, 28 * n, 1, (x, y) => [(x + y) % 256]), labels: Uint8Array.from([9, 0, 3, 3, 1]), n, h: 28, w: 28, c: 1 as const, classes: FASHION_MNIST_CLASSES };
    const one = new DataLoader(new ImageArrayDataset(set, { size: 28, channels: 1, mean: [0.5], std: [0.5] }), { batchSize: 5, shuffle: false });
    const [b] = await collect(one, 0);
    expect([...b.y]).toEqual([9, 0, 3, 3, 1]);
    expect(b.x.length).toBe(5 * 28 * 28);
    expect(b.x[28 * 28 + 3]).toBeCloseTo(((28 + 3) / 255 - 0.5) / 0.5, 5); // item 1, pixel (0, 3)
    const three = new DataLoader(new ImageArrayDataset(set, { size: 32 }), { batchSize: 2 });
    const batches = await collect(three, 0);
    expect(batches.map((x) => x.x.length)).toEqual([2 * 3 * 32 * 32, 2 * 3 * 32 * 32, 3 * 32 * 32]);
  });
});

describe('DataLoader over image files', () => {
  let root = '';
  beforeAll(async () => {
    root = join(tmp.dir, 'images');
    for (let i = 0; i < 12; i++) {
      const cls = i % 2 ? 'dog' : 'cat';
      await writeImage(join(root, cls, `${cls}.${i}.${i % 3 ? 'png' : 'jpg'}`), pixels(20 + i, 15, 3, () => [i * 20, 0, 0]), 20 + i, 15, 3);
    }
  });

  it('decodes images into batches and skips a corrupt one with a warning', async () => {
    const bad = corrupt(join(root, 'cat', 'cat.99.jpg'));
    const warnings: string[] = [];
    const ds = new ImageFolderDataset(loadFolder(root), { size: 8 });
    expect(ds.length).toBe(13);
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: false, onWarn: (m) => warnings.push(m) });
    const batches = await collect(loader, 0);
    expect(batches.map((b) => b.n)).toEqual([5, 4, 3]);
    expect(batches[1].skipped).toEqual([bad]);
    expect(batches[1].x.length).toBe(4 * 3 * 8 * 8);
    expect(warnings).toEqual([expect.stringContaining(`cannot read image ${bad}`)]);
    expect(batches.flatMap((b) => [...b.y])).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    await collect(loader, 1);
    expect(warnings.length).toBe(1); // warned once per file
    const train = new DataLoader(ds, { batchSize: 13, onWarn: () => {} });
    const [b] = await collect(train, 0);
    expect([b.n, b.x.length]).toEqual([12, 12 * 3 * 64]);
  });

  it('throws when too many images are bad', async () => {
    for (let i = 0; i < 3; i++) corrupt(join(root, 'dog', `dog.${90 + i}.jpg`));
    const ds = new ImageFolderDataset(loadFolder(root), { size: 8 });
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: false, onWarn: () => {} });
    await expect(collect(loader, 0)).rejects.toThrow(/4 of 16 images could not be read \(more than 10%\); last: .*dog\.92\.jpg/);
    const tolerant = new DataLoader(ds, { batchSize: 4, shuffle: false, onWarn: () => {}, maxBadFraction: 0.5 });
    expect((await collect(tolerant, 0)).reduce((a, b) => a + b.n, 0)).toBe(12);
  });
});
