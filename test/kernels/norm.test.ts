// batch_norm and layer_norm: forward against float64 references, backward against
// finite differences of the references (the batch-statistics function in training),
// running statistics after training calls, eval mode, errors and leaks.
import { describe, expect, it } from 'vitest';
import { liveTensors, Tensor, tidy } from '../../src/engine/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { reshape } from '../../src/autograd/ops.js';
import { batchNorm, layerNorm } from '../../src/autograd/norm.js';
import type { NormMode } from '../../src/engine/config.js';
import { type Arr, rand } from '../ref/cpu.js';
import { batchNormRef, layerNormRef } from '../ref/norm.js';
import { check, expectClose, toGpu, useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();

const kept = (a: Arr) => toGpu(a).keep();

const MODES: NormMode[] = ['row', 'group'];
/** Runs each mode's kernels (one invocation or one workgroup per row); the table's choice is restored after each. */
async function inModes(fn: (mode: NormMode) => Promise<void>): Promise<void> {
  for (const mode of MODES) await withConfig({ normMode: mode }, () => fn(mode));
}

describe.skipIf(!hasGpu)('batch_norm', () => {
  const SHAPES = [[2, 3, 4, 5], [3, 2, 1, 1], [1, 3, 5, 7], [4, 5], [5, 2, 3], [4, 3, 10, 10], [2, 2, 17, 17], [300, 2]];

  it('training: forward and backward through the batch statistics', () => inModes(async (mode) => {
    for (const [k, shape] of SHAPES.entries()) {
      const C = shape[1];
      const rm = kept(rand([C], 1)), rv = kept(rand([C], 2, 0.5, 2));
      await check((xs) => batchNorm(xs[0], xs[1], xs[2], rm, rv, { training: true }),
        ([x, w, b]) => batchNormRef(x, w, b, null, null, { training: true }).y,
        [rand(shape, 10 + k, -2, 3), rand([C], 20 + k), rand([C], 30 + k)], { atol: 1e-4, what: `bn train ${mode} [${shape}]` });
      rm.dispose();
      rv.dispose();
    }
  }));

  it('training without affine parameters or running stats, and another eps', async () => {
    await check((xs) => batchNorm(xs[0], null, null, null, null, { training: true, eps: 1e-3 }),
      ([x]) => batchNormRef(x, null, null, null, null, { training: true, eps: 1e-3 }).y, [rand([3, 4, 2, 3], 5)], { atol: 1e-4, what: 'bn no affine' });
  });

  it('eval: running statistics, affine backward', () => inModes(async (mode) => {
    for (const [k, shape] of [[2, 3, 4, 5], [1, 4, 1, 1], [1, 3], [3, 5, 2], [2, 2, 300]].entries()) {
      const C = shape[1];
      const m = rand([C], 40 + k), v = rand([C], 50 + k, 0.3, 2);
      const rm = kept(m), rv = kept(v);
      await check((xs) => batchNorm(xs[0], xs[1], xs[2], rm, rv, { training: false }),
        ([x, w, b]) => batchNormRef(x, w, b, m, v, { training: false }).y,
        [rand(shape, 60 + k, -2, 2), rand([C], 70 + k), rand([C], 80 + k)], { what: `bn eval ${mode} [${shape}]` });
      // eval leaves the running statistics alone
      expectClose(await rm.read(), m.data, 0, 1e-7, 'running_mean after eval');
      expectClose(await rv.read(), v.data, 0, 1e-7, 'running_var after eval');
      rm.dispose();
      rv.dispose();
    }
  }));

  it('running statistics after one and two training calls (unbiased variance, momentum)', () => inModes(async (mode) => {
    for (const [shape, momentum] of [[[4, 3, 5, 6], undefined], [[2, 5, 3, 3], 0.3], [[6, 4], undefined], [[2, 2, 1, 1], 0.1]] as [number[], number | undefined][]) {
      const C = shape[1];
      let m = rand([C], 7), v = rand([C], 8, 0.5, 1.5);
      const rm = kept(m), rv = kept(v);
      for (const call of [1, 2]) {
        const x = rand(shape, 90 + call, -1, 4);
        const ref = batchNormRef(x, null, null, m, v, { training: true, momentum });
        const y = tidy(() => batchNorm(toGpu(x), null, null, rm, rv, { training: true, momentum }));
        expectClose(await y.read(), ref.y.data, 1e-4, 1e-4, `bn y ${mode}, call ${call}`);
        y.dispose();
        m = { data: Float64Array.from(ref.rm!), shape: [C] };
        v = { data: Float64Array.from(ref.rv!), shape: [C] };
        expectClose(await rm.read(), m.data, 1e-6, 1e-5, `running_mean ${mode} [${shape}] after ${call} call(s)`);
        expectClose(await rv.read(), v.data, 1e-6, 1e-5, `running_var ${mode} [${shape}] after ${call} call(s)`);
      }
      rm.dispose();
      rv.dispose();
    }
  }));

  it('one value per channel in training is an error, as in PyTorch; eval accepts it', async () => {
    for (const shape of [[1, 3, 1, 1], [1, 3]]) {
      const x = Tensor.empty(shape), rm = kept(rand([3], 1)), rv = kept(rand([3], 2, 0.5, 1));
      expect(() => batchNorm(x, null, null, rm, rv, { training: true })).toThrow(/Expected more than 1 value per channel when training/);
      expect(() => batchNorm(x, null, null, null, null, { training: false })).toThrow(/Expected more than 1 value per channel when training/);
      tidy(() => batchNorm(x, null, null, rm, rv, { training: false })).dispose();
      for (const t of [x, rm, rv]) t.dispose();
    }
    expect(() => batchNorm(Tensor.empty([2, 3]), Tensor.empty([4]), null, null, null, { training: true })).toThrow(/weight has 4 elements, expected 3/);
  });
});

describe.skipIf(!hasGpu)('layer_norm', () => {
  const CASES: [number[], number][] = [[[2, 3, 5], 1e-5], [[1, 7], 1e-5], [[4, 300], 1e-12], [[37, 33], 1e-5], [[130, 9], 1e-12], [[3, 1], 1e-5]];
  it('forward and backward in both modes', () => inModes(async (mode) => {
    for (const [k, [shape, eps]] of CASES.entries()) {
      const D = shape[shape.length - 1];
      await check((xs) => layerNorm(xs[0], xs[1], xs[2], eps), ([x, w, b]) => layerNormRef(x, w, b, eps),
        [rand(shape, 100 + k, -2, 3), rand([D], 110 + k), rand([D], 120 + k)], { atol: 1e-4, what: `ln ${mode} [${shape}] eps ${eps}` });
    }
  }));

  it('without affine parameters; errors', async () => {
    await check((xs) => layerNorm(xs[0], null, null), ([x]) => layerNormRef(x, null, null), [rand([6, 10], 4)], { atol: 1e-4, what: 'ln no affine' });
    expect(() => layerNorm(Tensor.empty([2, 3]), Tensor.empty([4]), null)).toThrow(/weight has 4 elements, expected 3/);
  });
});

describe.skipIf(!hasGpu)('memory', () => {
  it('forward + backward frees everything it does not return', async () => {
    const x = kept(rand([2, 3, 4, 4], 1)), w = kept(rand([3], 2)), b = kept(rand([3], 3));
    const rm = kept(rand([3], 4)), rv = kept(rand([3], 5, 0.5, 1));
    for (const t of [x, w, b]) t.requiresGrad = true;
    const before = liveTensors();
    for (let step = 0; step < 3; step++) {
      tidy(() => {
        backward(layerNorm(reshape(batchNorm(x, w, b, rm, rv, { training: true }), [6, 16]), null, null), toGpu(rand([6, 16], 6)));
        backward(batchNorm(x, null, b, rm, rv, { training: false }), toGpu(rand([2, 3, 4, 4], 7)));
      });
      for (const t of [x, w, b]) {
        t.grad?.dispose();
        t.grad = null;
      }
    }
    await x.read();
    expect(liveTensors()).toBe(before);
    for (const t of [x, w, b, rm, rv]) t.dispose();
  });
});
