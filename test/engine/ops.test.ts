// Every op's forward against the float64 reference, and its backward against central
// finite differences of the reference.
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../../src/engine/tensor.js';
import * as op from '../../src/autograd/ops.js';
import { backward } from '../../src/autograd/tape.js';
import { BINARY, UNARY, type BinaryOp, type BinaryRow, type UnaryOp, type UnaryRow } from '../../src/engine/shaders/elementwise.js';
import { type Arr, concatRef, map, matmulRef, numel, permuteRef, rand, reduceRef, sliceRef, zip } from '../ref/cpu.js';
import { check, expectClose, toGpu, useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();


const UNARY_DOMAIN: Record<string, [number, number]> = { log: [0.2, 3], sqrt: [0.2, 3], pow: [0.3, 2] };
const SHAPES = [[1], [7], [3, 5], [2, 3, 33]];

/** The op under test: the named export of ops.ts when there is one (op.exp), else the row through unaryOp/binaryOp. */
const named = (name: string) => (op as unknown as Record<string, (...args: unknown[]) => Tensor>)[name];

/** Backward through a row marked grad: null throws a clear error. */
function expectNoGradient(fn: (xs: Tensor[]) => Tensor, shapes: number[][]): void {
  const xs = shapes.map((s, k) => {
    const t = toGpu(rand(s, 3 + k)).keep();
    t.requiresGrad = true;
    return t;
  });
  expect(() => tidy(() => backward(op.sum(fn(xs))))).toThrow(/has no gradient/);
  for (const t of xs) t.dispose();
}

describe.skipIf(!hasGpu)('elementwise: every row of UNARY and BINARY against its reference', () => {
  for (const [name, row] of Object.entries(UNARY) as [UnaryOp, UnaryRow][]) {
    it(`${name} forward${row.grad ? ' and backward' : ''}`, async () => {
      const [lo, hi] = UNARY_DOMAIN[name] ?? [-3, 3];
      const scalars = name === 'pow' ? [2, 3, 0.5] : name.endsWith('Scalar') ? [-1.5] : [0];
      for (const s of scalars) for (const [k, shape] of SHAPES.entries()) {
        // keep inputs off relu's kink, where a finite difference is meaningless
        const x = map(rand(shape, 7 + k, lo, hi), (v) => (name === 'relu' && Math.abs(v) < 0.01 ? v + 0.05 : v));
        const g = (xs: Tensor[]) => (named(name) ? named(name)(xs[0], s) : op.unaryOp(name, xs[0], s));
        await check(g, ([a]) => map(a, (v) => row.ref(v, s)), [x], { grad: !!row.grad && shape.length < 3, what: `${name}(${s}) [${shape}]` });
      }
      if (!row.grad) expectNoGradient((xs) => op.unaryOp(name, xs[0]), [[5]]);
    });
  }

  it('tanh, sigmoid and gelu stay finite for large inputs', async () => {
    const x = { data: Float64Array.from([-100, -30, -10, 10, 30, 100]), shape: [6] };
    for (const [name, fn] of [['tanh', op.tanh], ['sigmoid', op.sigmoid], ['gelu', op.gelu]] as const) {
      await check((xs) => fn(xs[0]), ([a]) => map(a, (v) => UNARY[name].ref(v, 0)), [x], { grad: false, what: name });
    }
  });

  const PAIRS: [number[], number[]][] = [[[4, 5], [4, 5]], [[3, 1, 5], [4, 5]], [[2, 3], [1]], [[1], [6]], [[2, 1, 4], [2, 3, 1]], [[2, 3, 4, 5], [3, 1, 5]]];
  for (const [name, row] of Object.entries(BINARY) as [BinaryOp, BinaryRow][]) {
    it(`${name} with broadcasting`, async () => {
      for (const [k, [sa, sb]] of PAIRS.entries()) {
        const a = rand(sa, 11 + k), b = map(rand(sb, 23 + k), (v) => (name === 'div' ? Math.sign(v) * (Math.abs(v) + 0.5) : v));
        const fn = (xs: Tensor[]) => (named(name) ? named(name)(xs[0], xs[1]) : op.binaryOp(name, xs[0], xs[1]));
        await check(fn, ([x, y]) => zip(x, y, row.ref), [a, b], { grad: !!row.grad, what: `${name} [${sa}] [${sb}]` });
      }
      if (!row.grad) expectNoGradient((xs) => op.binaryOp(name, xs[0], xs[1]), [[2, 3], [3]]);
    });
  }
});

describe.skipIf(!hasGpu)('reductions', () => {
  const CASES: [number[], number[] | undefined, boolean][] = [
    [[7], undefined, false], [[3, 5], [1], false], [[3, 5], [0], true], [[2, 3, 4], [0, 2], false], [[2, 3, 4], [1, 2], true],
    [[4, 1000], [1], false], [[3000], undefined, false], [[2, 3, 4], undefined, true],
  ];
  it('sum and mean over axes', async () => {
    for (const [k, [shape, axes, keep]] of CASES.entries()) {
      const ax = axes ?? [...shape.keys()];
      const x = rand(shape, 31 + k);
      const small = x.data.length < 200;
      await check((xs) => op.sum(xs[0], axes, keep), ([a]) => reduceRef(a, ax, 'sum', keep).y, [x], { atol: 1e-4, grad: small, what: `sum [${shape}] ${axes}` });
      const n = ax.reduce((s, i) => s * shape[i], 1);
      await check((xs) => op.mean(xs[0], axes, keep), ([a]) => reduceRef(a, ax, 'sum', keep, 1 / n).y, [x], { grad: small, what: `mean [${shape}] ${axes}` });
    }
  });

  it('max and argmax over an axis and over all', async () => {
    const MAX_CASES: [number[], number | undefined][] = [[[7], 0], [[3, 5], 1], [[3, 5], 0], [[2, 3, 4], 1], [[2, 700], 1], [[5, 3], undefined], [[4000], undefined]];
    for (const [k, [shape, axis]] of MAX_CASES.entries()) {
      const x = rand(shape, 41 + k);
      const ax = axis === undefined ? [...shape.keys()] : [axis];
      const ref = reduceRef(x, ax, 'max', false);
      await check((xs) => op.max(xs[0], axis), () => ref.y, [x], { grad: false, what: `max [${shape}] ${axis}` });
      if (x.data.length < 100) await check((xs) => op.max(xs[0], axis), ([a]) => reduceRef(a, ax, 'max', false).y, [x], { what: `max grad [${shape}]` });
      const idx = tidy(() => op.argmax(toGpu(x), axis));
      expect(Array.from(await idx.read())).toEqual(ref.idx);
      idx.dispose();
    }
  });
});

describe.skipIf(!hasGpu)('shape ops', () => {
  it('reshape and flatten', async () => {
    await check((xs) => op.reshape(xs[0], [6, -1]), ([a]) => ({ data: a.data, shape: [6, 4] }), [rand([2, 3, 4], 1)]);
    await check((xs) => op.flatten(xs[0]), ([a]) => ({ data: a.data, shape: [2, 12] }), [rand([2, 3, 4], 2)]);
  });
  it('permute and transpose', async () => {
    for (const [shape, perm] of [[[2, 3, 4], [2, 0, 1]], [[5, 7], [1, 0]], [[2, 3, 4, 5], [0, 2, 1, 3]], [[1, 9, 1], [2, 1, 0]], [[3, 37, 5], [0, 2, 1]], [[2, 40, 17], [0, 1, 2]], [[4, 3, 33], [1, 0, 2]]] as [number[], number[]][]) {
      await check((xs) => op.permute(xs[0], perm), ([a]) => permuteRef(a, perm), [rand(shape, 5)], { what: `permute [${shape}] [${perm}]` });
    }
    await check((xs) => op.transpose(xs[0]), ([a]) => permuteRef(a, [0, 2, 1]), [rand([3, 4, 5], 6)]);
  });
  it('expand', async () => {
    for (const [shape, to] of [[[1, 1, 5], [3, 1, 5]], [[4, 1], [2, 4, 6]]] as number[][][]) {
      await check((xs) => op.expand(xs[0], to), ([a]) => zip(a, { data: new Float64Array(numel(to)), shape: to }, (x) => x), [rand(shape, 9)], { what: `expand [${shape}] to [${to}]` });
    }
  });
  it('slice', async () => {
    for (const [shape, start, size] of [[[7], [2], [3]], [[4, 6], [1, 2], [2, 3]], [[3, 4, 5], [0, 1, 2], [3, 2, 3]], [[5, 50], [1, 3], [3, 41]]] as number[][][]) {
      await check((xs) => op.slice(xs[0], start, size), ([a]) => sliceRef(a, start, size), [rand(shape, 8)], { what: `slice [${shape}]` });
    }
  });
  it('copies run over merged dims', async () => {
    const { coalesce } = await import('../../src/engine/shaders/layout.js');
    expect(coalesce([2, 3, 4], [12, 4, 1], [12, 4, 1])).toEqual({ shape: [24], ss: [1], ds: [1] }); // contiguous
    expect(coalesce([2, 1, 3, 4], [12, 12, 1, 3], [12, 12, 4, 1])).toEqual({ shape: [2, 3, 4], ss: [12, 1, 3], ds: [12, 4, 1] }); // a transpose
    expect(coalesce([4, 5, 6], [60, 6, 1], [30, 6, 1])).toEqual({ shape: [4, 30], ss: [60, 1], ds: [30, 1] }); // a slice
    expect(coalesce([1, 1], [1, 1], [1, 1])).toEqual({ shape: [1], ss: [0], ds: [0] });
  });
  it('concat', async () => {
    for (const [shapes, axis] of [[[[2, 3], [4, 3]], 0], [[[2, 3], [2, 1], [2, 5]], 1], [[[2, 3, 4], [2, 2, 4]], 1]] as [number[][], number][]) {
      const xs = shapes.map((s, i) => rand(s, 60 + i));
      await check((ts) => op.concat(ts, axis), (as) => concatRef(as, axis), xs, { what: `concat axis ${axis}` });
    }
  });
  it('moveMany moves tensors into views of arenas, seven a dispatch (copies where they cannot be bound), leaving the rest as it was', async () => {
    const { moveMany } = await import('../../src/engine/shaders/layout.js');
    const { stats } = await import('../../src/engine/runtime.js');
    // slots at multiples of 64 elements, as the optimiser's arenas lay them out
    const sizes = [1, 3, 64, 130, 5, 7, 1000, 2, 63, 65];
    const firsts = sizes.map((_, i) => 64 * sizes.slice(0, i).reduce((a, n) => a + Math.ceil(n / 64), 0));
    const total = firsts.at(-1)! + 64 * Math.ceil(sizes.at(-1)! / 64);
    const before = Float32Array.from(rand([total], 70).data);
    const data = sizes.map((n, i) => Float32Array.from(rand([n], 80 + i).data));
    const run = async () => {
      const arenas = [Tensor.from(before).keep(), Tensor.from(before).keep()];
      const srcs = data.map((d) => Tensor.from(d).keep());
      const slots = sizes.map((n, i) => arenas[i % 2].viewAt(firsts[i], [n]).keep()); // alternate arenas: a batch each
      const d0 = stats().dispatches;
      moveMany(srcs.map((t, i) => [t, slots[i]] as const));
      const dispatches = stats().dispatches - d0;
      for (const [i, t] of srcs.entries()) {
        expect(t.sameMemory(slots[i])).toBe(true);
        expect(Array.from(await t.readF32())).toEqual(Array.from(data[i]));
      }
      // outside the slots' elements (and the padding up to each slot's next vec4) the arenas are unchanged
      for (const [a, arena] of arenas.entries()) {
        const got = await arena.readF32();
        const want = Float32Array.from(before);
        sizes.forEach((n, i) => {
          if (i % 2 !== a) return;
          want.set(data[i], firsts[i]);
          for (let j = n; j < Math.ceil(n / 4) * 4; j++) want[firsts[i] + j] = got[firsts[i] + j];
        });
        expect(Array.from(got)).toEqual(Array.from(want));
      }
      for (const t of [...arenas, ...srcs, ...slots]) t.dispose();
      return dispatches;
    };
    expect(await withConfig({ moveKernel: true }, run)).toBe(2); // 5 sources into each arena
    expect(await withConfig({ moveKernel: true, maxBindingBytes: 16 }, run)).toBe(0); // only the first slot fits a 16-byte binding, and one alone is copied too
    expect(await withConfig({ moveKernel: false }, run)).toBe(0); // copy commands (CPU adapters)
  });
});

describe.skipIf(!hasGpu)('matmul', () => {
  // N above 16 takes the subgroup-broadcast kernel on CPU adapters with subgroups (above 128
  // with one row block a workgroup): M not a multiple of its 16 rows, a K tail, and one
  // small enough for a gradient check.
  const SIZES: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 33, 9], [8, 12, 16], [64, 64, 64], [65, 130, 67], [2, 2, 300], [130, 3, 5], [33, 257, 10], [2, 140, 3], [7, 200, 9]];
  for (const transA of [false, true]) for (const transB of [false, true]) {
    it(`forward, transA=${transA} transB=${transB}`, async () => {
      for (const [k, [M, N, K]] of SIZES.entries()) {
        const a = rand(transA ? [K, M] : [M, K], 70 + k), b = rand(transB ? [N, K] : [K, N], 80 + k);
        await check((xs) => op.matmul(xs[0], xs[1], { transA, transB }), ([x, y]) => matmulRef(x, y, transA, transB), [a, b], {
          atol: 1e-4, rtol: 1e-4, grad: M * N * K < 2000, what: `matmul ${M}x${N}x${K}`,
        });
      }
    });
  }
  it('products with N > 16 take the subgroup-broadcast kernel on lavapipe', async () => {
    const { gpu } = await import('../../src/engine/device.js');
    const { matmulConfig } = await import('../../src/engine/shaders/matmul.js');
    if (!/llvmpipe/.test(gpu().info.description + gpu().info.device)) return; // elsewhere: not claimed
    expect(gpu().subgroupSize).toBeGreaterThan(0); // 8 (16 with LP_NATIVE_VECTOR_WIDTH=512)
    expect(matmulConfig(257).sg).toBe(gpu().subgroupSize);
    expect(matmulConfig(33).sg).toBe(gpu().subgroupSize); // 16 lanes along N, 4 row blocks
    const sg = gpu().subgroupSize;
    expect(matmulConfig(12).sg ?? 0).toBe(4 % sg === 0 ? sg : 0); // 4 lanes along N: a subgroup only if it is that small
    expect(matmulConfig(1024, 8).TM).toBe(Math.max(sg, 8)); // a batch of 8 rows
  });
  it('batched, with a broadcast operand', async () => {
    await check((xs) => op.matmul(xs[0], xs[1]), ([x, y]) => matmulRef(x, y), [rand([3, 5, 6], 1), rand([3, 6, 7], 2)], { what: 'batched' });
    await check((xs) => op.matmul(xs[0], xs[1]), ([x, y]) => matmulRef(x, y), [rand([2, 4, 5], 3), rand([5, 3], 4)], { what: 'broadcast B' });
    await check((xs) => op.matmul(xs[0], xs[1], { transA: true }), ([x, y]) => matmulRef(x, y, true), [rand([6, 4], 5), rand([2, 6, 5], 6)], { what: 'broadcast A' });
    await check((xs) => op.matmul(xs[0], xs[1]), ([x, y]) => matmulRef(x, y), [rand([3, 18, 7], 7), rand([3, 7, 150], 8)], { what: 'batched, wide', grad: false });
    await check((xs) => op.matmul(xs[0], xs[1], { transA: true }), ([x, y]) => matmulRef(x, y, true), [rand([2, 6, 17], 9), rand([6, 133], 10)], { what: 'batched Aᵀ, wide', grad: false });
  });
  it('fused bias and relu', async () => {
    for (const [M, N, K] of [[5, 7, 3], [16, 8, 12], [4, 2, 9], [21, 150, 7]]) {
      const ref = ([x, y, b]: Arr[]) => {
        const z = zip(matmulRef(x, y, false, true), b, (p, q) => p + q);
        return map(z, (v) => Math.max(v, 0));
      };
      await check((xs) => op.matmul(xs[0], xs[1], { transB: true, bias: xs[2], relu: true }), ref, [rand([M, K], M), rand([N, K], N), rand([N], K)], { what: `linear ${M}x${N}x${K}` });
    }
  });
});

describe.skipIf(!hasGpu)('matmul above the binding limit', () => {
  it('splits into row, column and K blocks bound by byte range', async () => {
    const { matmul } = await import('../../src/engine/shaders/matmul.js');
    const { stats } = await import('../../src/engine/runtime.js');
    await withConfig({ maxBindingBytes: 4 * 600 }, async () => {
      // a 2-row A against a wide transposed B (the DNN's first layer in small) runs as several blocks
      const before = stats().dispatches;
      tidy(() => matmul(Tensor.from(new Float32Array(2 * 500), [2, 500]), Tensor.from(new Float32Array(8 * 500), [8, 500]), { transB: true }));
      expect(stats().dispatches - before).toBeGreaterThan(1);
      for (const [M, N, K, transA, transB] of [[40, 9, 50, false, true], [7, 60, 45, false, false], [30, 33, 41, true, false], [12, 64, 80, false, true], [9, 70, 20, true, true], [5, 300, 3, false, false], [6, 260, 2, true, true]] as [number, number, number, boolean, boolean][]) {
        const a = rand(transA ? [K, M] : [M, K], M + K), b = rand(transB ? [N, K] : [K, N], N + K), bias = rand([N], 3);
        const ref = ([x, y, z]: Arr[]) => map(zip(matmulRef(x, y, transA, transB), z, (p, q) => p + q), (v) => Math.max(v, 0));
        await check((xs) => op.matmul(xs[0], xs[1], { transA, transB, bias: xs[2], relu: true }), ref, [a, b, bias], { atol: 1e-4, grad: false, what: `blocked ${M}x${N}x${K} ${transA} ${transB}` });
      }
    });
  });
});

describe.skipIf(!hasGpu)('elementwise ops above the binding limit', () => {
  it('run in blocks bound by byte range: forward, backward, fill and axpy', async () => {
    const { stats } = await import('../../src/engine/runtime.js');
    const { axpy, full } = await import('../../src/engine/shaders/elementwise.js');
    await withConfig({ maxBindingBytes: 4 * 200 }, async () => {
      const before = stats().dispatches;
      await check((xs) => op.gelu(xs[0]), ([a]) => map(a, (v) => UNARY.gelu.ref(v, 0)), [rand([5, 130], 41)], { what: 'blocked gelu' });
      expect(stats().dispatches - before).toBeGreaterThanOrEqual(8); // 650 elements in runs of 192, forward and backward
      await check((xs) => op.mul(xs[0], xs[1]), ([a, b]) => zip(a, b, BINARY.mul.ref), [rand([3, 7, 31], 42), rand([3, 7, 31], 43)], { what: 'blocked mul' });
      const y = full([701], 1.5), x = toGpu(rand([701], 44));
      axpy(y, x, -2);
      const want = Array.from(rand([701], 44).data, (v) => 1.5 - 2 * v);
      expectClose(await y.read(), want, 1e-6, 1e-6, 'blocked full + axpy');
      y.dispose();
      x.dispose();
    });
  });
});

describe.skipIf(!hasGpu)('copies above the binding limit', () => {
  it('permute, slice and concat in blocks of the first dim bound by byte range', async () => {
    await withConfig({ maxBindingBytes: 4 * 100 }, async () => {
      await check((xs) => op.permute(xs[0], [0, 2, 1, 3]), ([a]) => permuteRef(a, [0, 2, 1, 3]), [rand([7, 3, 4, 5], 1)], { what: 'blocked permute' });
      await check((xs) => op.slice(xs[0], [0, 4, 0], [6, 1, 9]), ([a]) => sliceRef(a, [0, 4, 0], [6, 1, 9]), [rand([6, 5, 9], 2)], { what: 'blocked slice' });
      await check((ts) => op.concat(ts, 1), (as) => concatRef(as, 1), [rand([9, 3, 4], 3), rand([9, 2, 4], 4)], { what: 'blocked concat' });
    });
  });
});
