// softmax / log_softmax and cross-entropy against float64 references (backward against
// finite differences), and the GPU-accumulated loss/accuracy/confusion counts.
import { describe, expect, it } from 'vitest';
import { Tensor, liveTensors, tidy } from '../../src/engine/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { crossEntropy, logSoftmax, softmax } from '../../src/autograd/softmax.js';
import { Metrics } from '../../src/autograd/metrics.js';
import { type Arr, map, rand } from '../ref/cpu.js';
import { crossEntropyGradRef, crossEntropyRef, logSoftmaxRef, metricsRef, softmaxRef } from '../ref/softmax.js';
import { check, expectClose, toGpu, useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();

/** Logits rounded to f32, so the GPU and the reference see the same values (argmax ties). */
const logits = (shape: number[], seed: number, scale = 3) => map(rand(shape, seed, -scale, scale), Math.fround);

/** Labels in [0, K), with `extra` values placed at the given rows. */
function labelsFor(N: number, K: number, seed: number, extra: Record<number, number> = {}): Int32Array {
  const u = rand([N], seed, 0, K);
  return Int32Array.from(u.data, (v, i) => extra[i] ?? Math.min(K - 1, Math.floor(v)));
}

/** Copies the maximum of every `every`-th row to a second place, 5 further on (mod K), before or after it. */
function tieRows(x: Arr, every: number): void {
  const K = x.shape.at(-1)!;
  if (K === 1) return;
  for (let b = 0; b < x.data.length; b += K * every) {
    let a = 0;
    for (let k = 1; k < K; k++) if (x.data[b + k] > x.data[b + a]) a = k;
    x.data[b + ((a + 5) % K)] = x.data[b + a];
  }
}

// Rows shifted to large values (+1000, -1000) check the max subtraction.
function withLargeRows(a: Arr): Arr {
  const K = a.shape.at(-1)!;
  const d = Float64Array.from(a.data, (v, i) => Math.fround(v + (Math.floor(i / K) % 3 === 1 ? 1000 : Math.floor(i / K) % 3 === 2 ? -1000 : 0)));
  return { data: d, shape: a.shape };
}

describe.skipIf(!hasGpu)('softmax and log_softmax', () => {
  const SHAPES = [[1, 1], [3, 1], [1, 2], [4, 2], [5, 7], [2, 3, 33], [1, 1000], [3, 1000], [70, 5]];
  for (const [name, fn, ref] of [['softmax', softmax, softmaxRef], ['log_softmax', logSoftmax, logSoftmaxRef]] as const) {
    it(`${name} forward and backward`, async () => {
      for (const [k, shape] of SHAPES.entries()) {
        await check((xs) => fn(xs[0]), ([a]) => ref(a), [logits(shape, 10 + k)], { what: `${name} [${shape}]` });
      }
    });
    it(`${name} is stable for rows near +-1000`, async () => {
      for (const [k, shape] of [[3, 4], [6, 1], [3, 200]].entries()) {
        await check((xs) => fn(xs[0]), ([a]) => ref(a), [withLargeRows(logits(shape, 20 + k))], { atol: 1e-5, rtol: 1e-5, what: `${name} large [${shape}]` });
      }
    });
  }
  it('softmax rows sum to 1 for wide rows', async () => {
    const y = tidy(() => softmax(toGpu(logits([8, 197], 3, 10))));
    const v = await y.read();
    y.dispose();
    const sums = Array.from({ length: 8 }, (_, r) => v.subarray(r * 197, r * 197 + 197).reduce((a, b) => a + b, 0));
    expectClose(sums, new Array(8).fill(1), 1e-5, 0);
  });
});

describe.skipIf(!hasGpu)('cross-entropy', () => {
  const CASES: [number, number][] = [[1, 1], [1, 2], [4, 2], [5, 7], [3, 1000], [33, 10], [70, 3]];
  for (const reduction of ['mean', 'sum'] as const) {
    it(`forward and backward (${reduction}) vs reference and finite differences`, async () => {
      for (const [k, [N, K]] of CASES.entries()) {
        const lab = labelsFor(N, K, 40 + k);
        const labT = Tensor.from(lab, [N]).keep();
        await check((xs) => crossEntropy(xs[0], labT, { reduction }), ([a]) => crossEntropyRef(a, lab, reduction), [logits([N, K], 50 + k)], {
          atol: 1e-5, rtol: 1e-5, what: `xent ${reduction} ${N}x${K}`,
        });
        labT.dispose();
      }
    });
  }

  it('stays finite for logits near +-1000', async () => {
    const x = withLargeRows(logits([6, 5], 61));
    const lab = labelsFor(6, 5, 62);
    const labT = Tensor.from(lab).keep();
    await check((xs) => crossEntropy(xs[0], labT), ([a]) => crossEntropyRef(a, lab), [x], { atol: 1e-5, rtol: 1e-5, what: 'xent large' });
    labT.dispose();
  });

  it('ignore_index and out-of-range labels are skipped; all ignored gives NaN mean', async () => {
    const [N, K] = [9, 4];
    const lab = labelsFor(N, K, 70, { 1: -100, 4: 4, 6: -7, 7: 2 ** 30 });
    const labT = Tensor.from(lab).keep();
    for (const reduction of ['mean', 'sum'] as const) {
      await check((xs) => crossEntropy(xs[0], labT, { reduction }), ([a]) => crossEntropyRef(a, lab, reduction), [logits([N, K], 71)], { atol: 1e-5, rtol: 1e-5, what: `xent skipped ${reduction}` });
    }
    const lab2 = Int32Array.from([0, 2, 1, 2]);
    const lab2T = Tensor.from(lab2).keep();
    await check((xs) => crossEntropy(xs[0], lab2T, { ignoreIndex: 2 }), ([a]) => crossEntropyRef(a, lab2, 'mean', 2), [logits([4, 3], 72)], { atol: 1e-5, rtol: 1e-5, what: 'xent ignoreIndex 2' });
    const none = Tensor.from(new Int32Array([-100, -100])).keep();
    const x = toGpu(logits([2, 3], 73)).keep();
    x.requiresGrad = true;
    const loss = tidy(() => {
      const l = crossEntropy(x, none);
      backward(l);
      return l;
    });
    expect(Number.isNaN(await loss.item())).toBe(true);
    expectClose(await x.grad!.read(), new Array(6).fill(0), 0, 0, 'grad of all-ignored');
    for (const t of [labT, lab2T, none, x, x.grad!, loss]) t.dispose();
  });

  it('many rows: split over several workgroups, backward vs the analytic gradient', async () => {
    for (const [k, [N, K]] of ([[600, 60], [300, 7], [257, 300]] as const).entries()) {
      const lab = labelsFor(N, K, 80 + k, { 5: -100, 9: K });
      const labT = Tensor.from(lab).keep();
      const x = logits([N, K], 90 + k);
      const xT = toGpu(x).keep();
      xT.requiresGrad = true;
      const dy = 0.75;
      const loss = tidy(() => {
        const l = crossEntropy(xT, labT);
        backward(l, Tensor.from([dy], []));
        return l;
      });
      expectClose([await loss.item()], crossEntropyRef(x, lab).data, 1e-5, 1e-5, `xent ${N}x${K}`);
      expectClose(await xT.grad!.read(), map(crossEntropyGradRef(x, lab), (g) => g * dy).data, 1e-7, 1e-4, `xent grad ${N}x${K}`);
      for (const t of [labT, xT, xT.grad!, loss]) t.dispose();
    }
  });

  it('frees what it saved once backward has run', async () => {
    const x = toGpu(logits([5, 3], 95)).keep();
    x.requiresGrad = true;
    const lab = Tensor.from(new Int32Array([0, 1, 2, 1, 0])).keep();
    const before = liveTensors();
    for (let i = 0; i < 3; i++) tidy(() => backward(crossEntropy(x, lab)));
    expect(liveTensors()).toBe(before + 1); // x.grad
    x.grad!.dispose();
    x.dispose();
    lab.dispose();
  });
});

describe.skipIf(!hasGpu)('metrics accumulated on the GPU', () => {
  it('loss sum, correct, count, bad labels and the confusion matrix vs CPU counts', async () => {
    for (const [N, K] of [[37, 5], [1, 2], [700, 50]]) {
      const m = new Metrics(K, { confusion: true });
      const want = { sumLoss: 0, correct: 0, count: 0, bad: 0, confusion: new Int32Array(K * K) };
      for (let b = 0; b < 3; b++) {
        // ties: some rows hold their maximum twice, where argmax must pick the first
        const x = logits([N, K], 100 + b + N, 2);
        tieRows(x, 2);
        const lab = labelsFor(N, K, 200 + b + N, N > 2 ? { 2: -100, 3: K, 5: -1 } : {});
        const ref = metricsRef(x, lab);
        want.sumLoss += ref.sumLoss;
        want.correct += ref.correct;
        want.count += ref.count;
        want.bad += ref.bad;
        ref.confusion.forEach((c, i) => (want.confusion[i] += c));
        tidy(() => {
          const xT = toGpu(x), labT = Tensor.from(lab);
          if (b === 1) crossEntropy(xT, labT, { metrics: m }); // fused with the loss
          else m.update(xT, labT);
        });
      }
      const got = await m.read();
      expect([got.correct, got.count, got.badLabels]).toEqual([want.correct, want.count, want.bad]);
      expectClose([got.loss * got.count], [want.sumLoss], 1e-4, 1e-5, `sum loss ${N}x${K}`);
      expect(got.accuracy).toBeCloseTo(want.correct / want.count, 6);
      expect(Array.from(got.confusion!)).toEqual(Array.from(want.confusion));
      const k0 = want.confusion[0], col0 = Array.from({ length: K }, (_, i) => want.confusion[i * K]).reduce((a, c) => a + c, 0);
      expect(got.precision![0]).toBeCloseTo(k0 / col0, 6);
      m.reset();
      const zero = await m.read();
      expect([zero.correct, zero.count, zero.badLabels]).toEqual([0, 0, 0]);
      expect(zero.confusion!.every((c) => c === 0)).toBe(true);
      m.dispose();
    }
  });

  it('without a confusion matrix', async () => {
    const m = new Metrics(3);
    const x = logits([10, 3], 300);
    const lab = labelsFor(10, 3, 301);
    tidy(() => m.update(toGpu(x), Tensor.from(lab)));
    const ref = metricsRef(x, lab);
    const got = await m.read();
    expect([got.correct, got.count, got.badLabels, got.confusion]).toEqual([ref.correct, ref.count, 0, undefined]);
    m.dispose();
  });
});

// The GPU configuration (several invocations per row, combined in workgroup memory),
// forced here so that it is tested on any adapter.
describe.skipIf(!hasGpu)('several lanes per row', () => {
  for (const L of [2, 8, 64]) {
    it(`L = ${L}: softmax, log_softmax, cross-entropy and metrics`, async () => {
      await withConfig({ rowLanes: L }, async () => {
        for (const [k, shape] of [[3, 1], [4, 3], [5, 70], [2, 3, 9]].entries()) {
          const x = withLargeRows(logits(shape, 400 + k));
          await check((xs) => softmax(xs[0]), ([a]) => softmaxRef(a), [x], { atol: 1e-5, rtol: 1e-5, what: `softmax L=${L} [${shape}]` });
          await check((xs) => logSoftmax(xs[0]), ([a]) => logSoftmaxRef(a), [x], { atol: 1e-5, rtol: 1e-5, what: `log_softmax L=${L} [${shape}]` });
        }
        for (const [k, [N, K]] of ([[1, 1], [7, 3], [9, 70]] as const).entries()) {
          const lab = labelsFor(N, K, 410 + k, N > 5 ? { 1: -100, 4: K } : {});
          const labT = Tensor.from(lab).keep();
          await check((xs) => crossEntropy(xs[0], labT), ([a]) => crossEntropyRef(a, lab), [logits([N, K], 420 + k)], { atol: 1e-5, rtol: 1e-5, what: `xent L=${L} ${N}x${K}` });
          labT.dispose();
        }
        const [N, K] = [300, 130]; // several workgroups
        const x = logits([N, K], 430);
        tieRows(x, 2); // ties across lanes
        const lab = labelsFor(N, K, 431, { 0: -100, 2: -5 });
        const m = new Metrics(K, { confusion: true });
        const xT = toGpu(x).keep(), labT = Tensor.from(lab).keep();
        xT.requiresGrad = true;
        const loss = tidy(() => {
          const l = crossEntropy(xT, labT, { metrics: m });
          backward(l);
          return l;
        });
        expectClose([await loss.item()], crossEntropyRef(x, lab).data, 1e-5, 1e-5, `xent L=${L} ${N}x${K}`);
        expectClose(await xT.grad!.read(), crossEntropyGradRef(x, lab).data, 1e-7, 1e-4, `xent grad L=${L}`);
        const ref = metricsRef(x, lab), got = await m.read();
        expect([got.correct, got.count, got.badLabels]).toEqual([ref.correct, ref.count, ref.bad]);
        expect(Array.from(got.confusion!)).toEqual(Array.from(ref.confusion));
        for (const t of [xT, xT.grad!, labT, loss]) t.dispose();
        m.dispose();
      });
    });
  }
});
