// conv2d forward against the float64 reference, and dx, dw, db against central finite
// differences of the reference, for the kernel shapes of LeNet, VGG, ResNet and ViT.
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../../src/engine/tensor.js';
import { stats } from '../../src/engine/runtime.js';
import { conv2d } from '../../src/autograd/conv2d.js';
import {
  conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convConfig, convGeom,
} from '../../src/engine/shaders/conv2d.js';
import { rand } from '../ref/cpu.js';
import { SGD } from '../../src/optim/index.js';
import { conv2dGradRef, conv2dRef, type ConvRefOpts } from '../ref/conv2d.js';
import { check, expectClose, toGpu, useGpu, withConfig } from '../gpu.js';

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
  '3x3/1/1 (VGG, ResNet), odd sizes': { x: [1, 3, 9, 11], o: 5, k: [3, 3], stride: 1, padding: 1 },
  '3x3/1/1 fused relu, vec4 rows': { x: [2, 3, 6, 8], o: 5, k: [3, 3], stride: 1, padding: 1, relu: true },
  '7x7/2/3 (ResNet stem)': { x: [1, 3, 11, 12], o: 5, k: [7, 7], stride: 2, padding: 3 },
  '3x3/2/1 (ResNet downsampling)': { x: [2, 3, 9, 10], o: 5, k: [3, 3], stride: 2, padding: 1 },
  '1x1/2/0 (ResNet shortcut)': { x: [2, 3, 9, 8], o: 5, k: [1, 1], stride: 2, padding: 0 },
  '4x4/4/0 (patch embedding)': { x: [2, 3, 8, 12], o: 5, k: [4, 4], stride: 4, padding: 0 },
  '3x3/1/1, 32-wide rows (16-pixel blocks)': { x: [1, 3, 4, 32], o: 5, k: [3, 3], stride: 1, padding: 1 },
  '3x3/2/1, 64-wide rows (16-pixel blocks)': { x: [1, 2, 3, 64], o: 4, k: [3, 3], stride: 2, padding: 1 },
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
        (xs) => conv2d(xs[0], xs[1], xs[2] ?? null, { ...opts, algorithm: 'implicit' }),
        (xs) => conv2dRef(xs[0], xs[1], xs[2] ?? null, opts),
        inputs,
        { atol: 1e-5, rtol: 1e-4, what: name },
      );
    });
  }

  // Larger than the finite-difference cases: several channel blocks (12 outputs, 10
  // inputs) and several partial sums in dw, against the reference's adjoint loops.
  it('larger shapes against the reference gradients, whole and split across bindings', async () => {
    // 2.5 KiB and 3 KiB per sample (multiples of the 256-byte binding alignment); bindings
    // of 6 KiB split the batch of 5 into 2 + 2 + 1
    const x = rand([5, 10, 8, 8], 4), w = rand([12, 10, 3, 3], 5, -0.3, 0.3), b = rand([12], 6);
    for (const opts of [{ stride: 1, padding: 1 }, { stride: 2, padding: 1 }]) {
      const want = conv2dRef(x, w, b, opts);
      const dy = rand(want.shape, 7);
      const ref = conv2dGradRef(x, w, dy, opts);
      const g = convGeom(x.shape, w.shape, opts);
      const { gpu } = await import('../../src/engine/device.js');
      if (/llvmpipe/.test(gpu().info.description + gpu().info.device)) expect(convConfig('fwd', g).sg).toBe(gpu().subgroupSize); // the default there
      // plain: without the subgroup weight loads (GPUs, adapters without subgroups)
      for (const [maxBinding, plain] of [[undefined, false], [6144, false], [undefined, true], [6144, true]] as const) await withConfig(maxBinding ? { maxBindingBytes: maxBinding } : {}, async () => {
        const cfg = (kind: 'fwd' | 'dx' | 'dw') => ({ ...convConfig(kind, g), ...(plain ? { sg: 0 } : {}) });
        const [X, W, B, DY] = [x, w, b, dy].map(toGpu);
        const before = stats().dispatches;
        const got = tidy(() => [
          conv2dForward(X, W, B, opts, cfg('fwd')),
          conv2dBackwardInput(DY, W, x.shape, opts, cfg('dx')),
          conv2dBackwardWeight(DY, X, w.shape, opts, cfg('dw')),
          conv2dBackwardBias(DY),
        ]);
        const dispatches = stats().dispatches - before;
        const what = `${JSON.stringify(opts)} maxBinding ${maxBinding}${plain ? ' plain' : ''}`;
        for (const [t, r, name] of [[got[0], want, 'forward'], [got[1], ref.dx, 'dx'], [got[2], ref.dw, 'dw'], [got[3], ref.db, 'db']] as const) {
          expect(t.shape).toEqual(r.shape);
          expectClose(await t.read(), r.data, 1e-4, 1e-4, `${name} ${what}`);
        }
        // weight packing twice and the final reductions of dw's and db's partial sums;
        // then one dispatch per chunk for forward, dx, dw (x and dy) and db (dy)
        const chunks = (bytes: number) => (maxBinding ? Math.ceil(5 / Math.floor(maxBinding / bytes)) : 1);
        const [sx, sy] = [x.data.length / 5 * 4, want.data.length / 5 * 4];
        expect(dispatches, what).toBe(4 + 3 * chunks(Math.max(sx, sy)) + chunks(sy));
        for (const t of [...got, X, W, B, DY]) t.dispose();
      });
    }
  });

  it('repacks a parameter\'s weights only when it changes (optimiser step, write)', async () => {
    const x = rand([2, 3, 8, 8], 11), dyA = rand([2, 5, 8, 8], 12);
    const o = { padding: 1 };
    const wRef = rand([5, 3, 3, 3], 13, -0.5, 0.5);
    const w = toGpu(wRef).keep(); // kept, as a parameter
    w.requiresGrad = true;
    const opt = new SGD([w], { lr: 0.1 });
    // one forward and one input gradient; the dispatches they take and their results
    const run = () => {
      const d0 = stats().dispatches;
      const [y, dx] = tidy(() => {
        const xt = toGpu(x), dy = toGpu(dyA);
        return [conv2dForward(xt, w, null, o), conv2dBackwardInput(dy, w, xt.shape, o)];
      });
      return { y, dx, n: stats().dispatches - d0 };
    };
    const expectRef = async (r: { y: Tensor; dx: Tensor }, wr: typeof wRef, what: string) => {
      expectClose(await r.y.read(), conv2dRef(x, wr, null, o).data, 1e-5, 1e-4, `${what} forward`);
      expectClose(await r.dx.read(), conv2dGradRef(x, wr, dyA, o).dx.data, 1e-5, 1e-4, `${what} dx`);
      r.y.dispose();
      r.dx.dispose();
    };
    const first = run();
    await expectRef(first, wRef, 'first');
    const again = run();
    expect(again.n).toBe(first.n - 1); // no repack: the first forward packed both layouts (forward, dx) in one dispatch
    await expectRef(again, wRef, 'again');
    // a step changes the weight: repacked once (both layouts), then cached again
    const g = rand([5, 3, 3, 3], 14);
    w.grad = toGpu(g).keep();
    opt.step();
    const wStep = { ...wRef, data: wRef.data.map((v, i) => v - 0.1 * g.data[i]) };
    const stepped = run();
    expect(stepped.n).toBe(first.n);
    await expectRef(stepped, wStep, 'after a step');
    expect(run().n).toBe(first.n - 1);
    // write() too
    w.write(Float32Array.from(wRef.data));
    const written = run();
    expect(written.n).toBe(first.n);
    await expectRef(written, wRef, 'after write');
    opt.dispose();
    w.grad?.dispose();
    w.dispose();
  });

  it('an empty batch gives empty outputs and zero weight and bias gradients', async () => {
    const [y, dx, dw, db] = tidy(() => {
      const x = Tensor.empty([0, 3, 8, 8]), w = toGpu(rand([4, 3, 3, 3], 1)), dy = Tensor.empty([0, 4, 8, 8]);
      const o = { padding: 1 };
      return [conv2dForward(x, w, null, o), conv2dBackwardInput(dy, w, x.shape, o), conv2dBackwardWeight(dy, x, w.shape, o), conv2dBackwardBias(dy)];
    });
    expect([y.shape, dx.shape]).toEqual([[0, 4, 8, 8], [0, 3, 8, 8]]);
    expect(Array.from(await dw.read())).toEqual(new Array(108).fill(0));
    expect(Array.from(await db.read())).toEqual([0, 0, 0, 0]);
    for (const t of [y, dx, dw, db]) t.dispose();
  });
});
