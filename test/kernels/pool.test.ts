// Pooling forward against float64 references, backward against finite differences
// (small shapes) and against the reference gradient (larger ones).
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../../src/engine/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { adaptiveAvgPool2d, maxPool2d, type MaxPool2dOpts } from '../../src/autograd/pool.js';
import { maxPool2dForward } from '../../src/engine/shaders/pool.js';
import { arr, distinct, map, rand } from '../ref/cpu.js';
import { adaptiveAvgPool2dRef, maxPool2dBackwardRef, maxPool2dRef, type PoolRefOpts } from '../ref/pool.js';
import { check, expectClose, toGpu, useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();


const pair = (v: number | readonly number[]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const refOpts = (o: MaxPool2dOpts): PoolRefOpts => ({ kernel: pair(o.kernel), stride: pair(o.stride ?? o.kernel), padding: pair(o.padding ?? 0) });

describe.skipIf(!hasGpu)('max_pool2d', () => {
  const SMALL: [number[], MaxPool2dOpts][] = [
    [[1, 1, 4, 4], { kernel: 2 }],
    [[1, 1, 5, 5], { kernel: 2, stride: 2 }], // odd size: the last row and column are dropped
    [[2, 3, 7, 9], { kernel: 3, stride: 2, padding: 1 }], // ResNet's stem pool
    [[1, 2, 6, 5], { kernel: 3, stride: 1, padding: 1 }], // heavy overlap
    [[2, 1, 7, 8], { kernel: [2, 3], stride: [1, 2], padding: [1, 0] }],
    [[1, 1, 1, 1], { kernel: 1 }],
    [[1, 1, 3, 3], { kernel: 3, stride: 2, padding: 1 }],
  ];
  it('forward and backward (finite differences) on small shapes', async () => {
    for (const [k, [shape, o]] of SMALL.entries()) {
      await check((xs) => maxPool2d(xs[0], o), ([x]) => maxPool2dRef(x, refOpts(o)).y, [distinct(shape, 3 + k)], { what: `maxpool [${shape}] ${JSON.stringify(o)}` });
    }
  });

  it('indices and gradient on larger shapes (LeNet 2x2/2, ResNet 3x3/2/1), for several run lengths', async () => {
    const CASES: [number[], MaxPool2dOpts][] = [
      [[2, 6, 30, 31], { kernel: 2, stride: 2 }], [[2, 5, 23, 17], { kernel: 3, stride: 2, padding: 1 }],
      [[1, 3, 16, 16], { kernel: 3, stride: 1, padding: 1 }], [[1, 2, 9, 75], { kernel: 3, stride: 2, padding: 1 }],
    ];
    for (const run of [4, 8, 32]) for (const [k, [shape, o]] of CASES.entries()) await withConfig({ poolRun: run }, async () => {
        const x = map(rand(shape, 20 + k), Math.fround); // the values the GPU sees, ties included
        const ref = maxPool2dRef(x, refOpts(o));
        const dy = rand(ref.y.shape, 30 + k);
        const xt = toGpu(x).keep();
        xt.requiresGrad = true;
        const { y, idx } = tidy(() => {
          const r = maxPool2dForward(xt, o);
          backward(maxPool2d(xt, o), toGpu(dy));
          return { y: r.y, idx: r.saved.idx };
        });
        const what = `maxpool [${shape}] run ${run}`;
        expectClose(await y.read(), ref.y.data, 0, 0, `${what} forward`);
        expect(Array.from(await idx.read()), what).toEqual(ref.idx);
        expectClose(await xt.grad!.read(), maxPool2dBackwardRef(dy, ref.idx, shape).data, 1e-6, 1e-6, `${what} backward`);
        for (const t of [y, idx, xt.grad!, xt]) t.dispose();
    });
  });

  it('ties go to the first maximum of the window, padding never wins', async () => {
    // all equal and negative: a padded zero would win if padding took part
    const x = arr([1, 2, 5, 6], () => -2);
    const o = { kernel: 3, stride: 2, padding: 1 };
    const ref = maxPool2dRef(x, refOpts(o));
    const { y, idx } = tidy(() => {
      const r = maxPool2dForward(toGpu(x), o);
      return { y: r.y, idx: r.saved.idx };
    });
    expectClose(await y.read(), ref.y.data, 0, 0, 'ties forward');
    expect(Array.from(await idx.read())).toEqual(ref.idx);
    y.dispose();
    idx.dispose();
  });

  it('rejects what PyTorch rejects', () => {
    const x = Tensor.empty([1, 1, 4, 4]);
    expect(() => maxPool2d(x, { kernel: 2, padding: 2 })).toThrow(/pad should be at most half/);
    expect(() => maxPool2d(x, { kernel: 5 })).toThrow(/too small/);
    expect(() => maxPool2d(Tensor.empty([4, 4]), { kernel: 2 })).toThrow(/\(N,C,H,W\)/);
    x.dispose();
  });
});

describe.skipIf(!hasGpu)('adaptive_avg_pool2d', () => {
  const CASES: [number[], [number, number]][] = [
    [[2, 3, 7, 7], [1, 1]], // ResNet's head
    [[1, 1, 1, 1], [1, 1]],
    [[3, 2, 5, 3], [1, 1]],
    [[1, 2, 7, 5], [3, 2]],
    [[2, 1, 10, 10], [4, 4]], // overlapping regions
    [[1, 1, 3, 3], [5, 4]], // output larger than input
  ];
  it('forward and backward, for several run lengths', async () => {
    for (const run of [4, 32]) for (const [k, [shape, out]] of ([...CASES, [[1, 2, 6, 37], [1, 1]], [[1, 1, 5, 40], [2, 7]]] as typeof CASES).entries()) {
      await withConfig({ poolRun: run }, () => check((xs) => adaptiveAvgPool2d(xs[0], out), ([x]) => adaptiveAvgPool2dRef(x, out), [rand(shape, 50 + k)], { what: `adaptive [${shape}] -> ${out} run ${run}` }));
    }
  });
  it('global average of a larger input', async () => {
    await check((xs) => adaptiveAvgPool2d(xs[0]), ([x]) => adaptiveAvgPool2dRef(x, [1, 1]), [rand([4, 9, 14, 13], 60)], { what: 'adaptive 14x13 -> 1' });
  });
});

describe.skipIf(!hasGpu)('above the storage binding limit', () => {
  it('splits the planes into groups of aligned bindings', async () => {
    const CASES: [number, () => Promise<void>][] = [
      [2048, () => check((xs) => maxPool2d(xs[0], { kernel: 2 }), ([x]) => maxPool2dRef(x, refOpts({ kernel: 2 })).y, [distinct([2, 6, 8, 8], 70)], { what: 'chunked 2x2' })],
      [4096, () => check((xs) => maxPool2d(xs[0], { kernel: 3, stride: 2, padding: 1 }), ([x]) => maxPool2dRef(x, refOpts({ kernel: 3, stride: 2, padding: 1 })).y, [distinct([2, 5, 16, 16], 71)], { what: 'chunked 3x3/2/1' })],
      [16384, () => check((xs) => adaptiveAvgPool2d(xs[0]), ([x]) => adaptiveAvgPool2dRef(x, [1, 1]), [rand([4, 32, 8, 8], 72)], { what: 'chunked global average' })],
      [4096, () => check((xs) => adaptiveAvgPool2d(xs[0], [3, 3]), ([x]) => adaptiveAvgPool2dRef(x, [3, 3]), [rand([3, 4, 16, 8], 73)], { what: 'chunked adaptive' })],
    ];
    for (const [limit, run] of CASES) await withConfig({ maxBindingBytes: limit }, run);
    await withConfig({ maxBindingBytes: 64 }, () => {
      expect(() => maxPool2d(Tensor.empty([1, 2, 8, 8]), { kernel: 2 })).toThrow(/pooling: .* bytes in one binding, above this adapter's 64/);
    });
  });
});
