// The im2col + matmul path of conv2d against the same float64 reference and finite
// differences as the implicit-GEMM kernels.
import { describe, it } from 'vitest';
import { conv2d } from '../../src/autograd/conv2d.js';
import { rand } from '../ref/cpu.js';
import { conv2dRef, type ConvRefOpts } from '../ref/conv2d.js';
import { check, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

const CASES: [string, [number, number, number, number], number, [number, number], ConvRefOpts & { bias?: boolean }][] = [
  ['3x3/1/1 on a 1x1 map (ResNet layer4 at 32x32)', [2, 6, 1, 1], 5, [3, 3], { stride: 1, padding: 1 }],
  ['3x3/2/1, odd sizes', [2, 3, 5, 7], 4, [3, 3], { stride: 2, padding: 1 }],
  ['1x1/2/0 shortcut, no bias', [2, 5, 4, 4], 6, [1, 1], { stride: 2, padding: 0, bias: false }],
  ['5x5/1/0 with relu', [1, 2, 7, 6], 3, [5, 5], { stride: 1, padding: 0, relu: true }],
  ['3x5, stride [2,1], padding [0,2]', [1, 2, 7, 9], 3, [3, 5], { stride: [2, 1], padding: [0, 2] }],
  // 32 output pixels and more, no bias: the forward's product writes NCHW itself
  ['3x3/1/1 on 7x7 with relu, no bias (ResNet layer4 at 224)', [2, 6, 7, 7], 5, [3, 3], { stride: 1, padding: 1, bias: false, relu: true }],
  ['1x1/2/0 shortcut 12x12 -> 6x6, no bias', [3, 5, 12, 12], 4, [1, 1], { stride: 2, padding: 0, bias: false }],
];

describe.skipIf(!hasGpu)('conv2d as im2col + matmul', () => {
  for (const [name, x, o, k, opts] of CASES) {
    it(name, async () => {
      const bias = opts.bias ?? true;
      const inputs = [rand(x, 1), rand([o, x[1], ...k], 2, -0.5, 0.5)];
      if (bias) inputs.push(rand([o], 3));
      await check((xs) => conv2d(xs[0], xs[1], xs[2] ?? null, { ...opts, algorithm: 'gemm' }), (xs) => conv2dRef(xs[0], xs[1], xs[2] ?? null, opts), inputs, { what: name });
    });
  }
});
