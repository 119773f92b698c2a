// conv2d forward against the float64 reference, and dx, dw, db against central finite
// differences of the reference, for the kernel shapes of LeNet, VGG, ResNet and ViT.
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../../src/engine/tensor.js';
import { conv2d } from '../../src/autograd/conv.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../../src/engine/shaders/conv2d.js';
import { rand } from '../ref/cpu.js';
import { conv2dRef, type ConvRefOpts } from '../ref/conv.js';
import { check, expectClose, toGpu, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

interface Case {
  x: [number, number, number, number]; // N, C, H, W
  o: number;
  k: [number, number];
  stride: number | [number, number];
  padding: number | [number, number];
  bias?: boolean;
  relu?: boolean;
}

// name: KHxKW/stride/padding
// Widths that are multiples of 4 take the vec4 paths; odd ones the scalar paths.
const CASES: Record<string, Case> = {
  '5x5/1/0 (LeNet), vec4 rows': { x: [2, 3, 9, 12], o: 5, k: [5, 5], stride: 1, padding: 0 },
  '5x5/1/0, odd sizes': { x: [1, 3, 9, 9], o: 5, k: [5, 5], stride: 1, padding: 0 },
  '3x3/1/1 (VGG, ResNet), odd sizes': { x: [1, 3, 9, 11], o: 5, k: [3, 3], stride: 1, padding: 1 },
  '3x3/1/1 fused relu, vec4 rows': { x: [2, 3, 6, 8], o: 5, k: [3, 3], stride: 1, padding: 1, relu: true },
  '7x7/2/3 (ResNet stem)': { x: [1, 3, 11, 12], o: 5, k: [7, 7], stride: 2, padding: 3 },
  '3x3/2/1 (ResNet downsampling)': { x: [2, 3, 9, 10], o: 5, k: [3, 3], stride: 2, padding: 1 },
  '1x1/2/0 (ResNet shortcut)': { x: [2, 3, 9, 8], o: 5, k: [1, 1], stride: 2, padding: 0 },
  '4x4/4/0 (patch embedding)': { x: [2, 3, 8, 12], o: 5, k: [4, 4], stride: 4, padding: 0 },
  '3x5 kernel, stride [2,1], padding [0,2], no bias': { x: [1, 2, 7, 9], o: 3, k: [3, 5], stride: [2, 1], padding: [0, 2], bias: false },
};

describe.skipIf(!hasGpu)('conv2d', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: forward, dx, dw, db`, async () => {
      const [, C] = c.x;
      const bias = c.bias ?? true;
      const opts: ConvRefOpts = { stride: c.stride, padding: c.padding, relu: c.relu };
      const inputs = [rand(c.x, 1), rand([c.o, C, ...c.k], 2, -0.5, 0.5)];
      if (bias) inputs.push(rand([c.o], 3));
      await check(
        (xs) => conv2d(xs[0], xs[1], xs[2] ?? null, opts),
        (xs) => conv2dRef(xs[0], xs[1], xs[2] ?? null, opts),
        inputs,
        { atol: 1e-5, rtol: 1e-4, what: name },
      );
    });
  }

  it('larger shapes, forward and gradients against the reference', async () => {
    // Blocks that are partly full (channels and pixels not multiples of the tile) and
    // several chunks in the weight gradient; gradients checked against the reference
    // applied to the adjoint (dx, dw via sums of the reference's partial outputs).
    const x = rand([3, 10, 23, 21], 4), w = rand([12, 10, 3, 3], 5, -0.3, 0.3), b = rand([12], 6);
    for (const opts of [{ stride: 1, padding: 1 }, { stride: 2, padding: 1 }] as ConvRefOpts[]) {
      const want = conv2dRef(x, w, b, opts);
      const y = tidy(() => conv2dForward(toGpu(x), toGpu(w), toGpu(b), opts));
      expectClose(await y.read(), want.data, 1e-4, 1e-4, 'forward');
      expect(y.shape).toEqual(want.shape);
      // <dy, conv(x, w)> is linear in x and in w: check dx and dw through that identity
      const dy = rand(want.shape, 7);
      const [dx, dw] = tidy(() => [conv2dBackwardInput(toGpu(dy), toGpu(w), x.shape, opts), conv2dBackwardWeight(toGpu(dy), toGpu(x), w.shape, opts)]);
      const dxv = await dx.read(), dwv = await dw.read();
      const dot = (a: ArrayLike<number>, z: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * z[i], 0);
      const base = dot(dy.data, conv2dRef(x, w, null, opts).data);
      expect(dot(dxv, x.data)).toBeCloseTo(base, 2);
      expect(dot(dwv, w.data)).toBeCloseTo(base, 2);
      for (const t of [y, dx, dw]) t.dispose();
    }
  });
});
