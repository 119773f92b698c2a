// Dropout: the drop rate against a binomial bound, exact kept values, the backward's
// mask, reproducibility from a seed, fresh masks per call, and the identity cases.
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../../src/engine/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { dropout, getRngState, manualSeed, setRngState } from '../../src/autograd/dropout.js';
import { rand } from '../ref/cpu.js';
import { toGpu, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

const N = 100_003; // not a multiple of the workgroup
const xs = rand([N], 5, 0.5, 2); // no zeros, so a zero output means "dropped"
const dys = rand([N], 6, -1, 1);

/** Runs dropout on x with grads, back-propagates dy; returns y, dx and the keep mask. */
async function run(p: number, opts: Parameters<typeof dropout>[2] = {}) {
  const x = toGpu(xs).keep();
  x.requiresGrad = true;
  const y = tidy(() => {
    const out = dropout(x, p, opts);
    if (out !== x) backward(out, toGpu(dys));
    return out;
  });
  const yv = (await y.read()) as Float32Array;
  const dx = x.grad ? ((await x.grad.read()) as Float32Array) : null;
  const same = y === x;
  if (!same) y.dispose();
  x.grad?.dispose();
  x.dispose();
  return { y: yv, dx, same, keep: Array.from(yv, (v) => v !== 0) };
}

const rate = (keep: boolean[]) => keep.filter((k) => !k).length / keep.length;

describe.skipIf(!hasGpu)('dropout', () => {
  it('drops a fraction p (within 5 binomial sigmas); kept values are x * (1/(1-p)) exactly; dx = dy * mask/(1-p)', async () => {
    manualSeed(1234);
    for (const p of [0.1, 0.5, 0.9]) {
      const { y, dx, keep } = await run(p);
      const sigma = Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(rate(keep) - p)).toBeLessThan(5 * sigma);
      const scale = Math.fround(1 / (1 - p));
      for (let i = 0; i < N; i++) {
        const want = keep[i] ? Math.fround(Math.fround(xs.data[i]) * scale) : 0;
        if (y[i] !== want) expect.fail(`p=${p}: y[${i}] = ${y[i]}, want ${want}`);
        const g = keep[i] ? Math.fround(Math.fround(dys.data[i]) * scale) : 0;
        if (dx![i] !== g) expect.fail(`p=${p}: dx[${i}] = ${dx![i]}, want ${g}`);
      }
    }
  });

  it('has no visible structure: neighbours and halves drop independently', async () => {
    manualSeed(7);
    const { keep } = await run(0.5);
    let both = 0;
    for (let i = 0; i + 1 < N; i++) if (!keep[i] && !keep[i + 1]) both++;
    const pairs = N - 1, sigma = Math.sqrt((0.25 * 0.75) / pairs);
    expect(Math.abs(both / pairs - 0.25)).toBeLessThan(5 * sigma);
    const half = (lo: number) => rate(keep.slice(lo, lo + (N >> 1)));
    expect(Math.abs(half(0) - half(N >> 1))).toBeLessThan(5 * Math.sqrt(0.5 / N));
  });

  it('same seed, same mask; successive calls differ; a run is reproducible', async () => {
    manualSeed(42);
    const a = (await run(0.5)).keep;
    const b = (await run(0.5)).keep;
    manualSeed(42);
    expect((await run(0.5)).keep).toEqual(a);
    const state = getRngState();
    const b2 = (await run(0.5)).keep;
    expect(b2).toEqual(b);
    // two masks of the same call sequence differ, and overlap as independent draws would (p^2)
    let both = 0, diff = 0;
    for (let i = 0; i < N; i++) {
      if (!a[i] && !b[i]) both++;
      if (a[i] !== b[i]) diff++;
    }
    expect(diff).toBeGreaterThan(0);
    expect(Math.abs(both / N - 0.25)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / N));
    setRngState(state);
    expect((await run(0.5)).keep).toEqual(b);
    // an explicit seed fixes the mask and leaves the generator alone
    const before = getRngState();
    const s1 = (await run(0.3, { seed: 99 })).keep;
    const s2 = (await run(0.3, { seed: 99 })).keep;
    expect(s2).toEqual(s1);
    expect(getRngState()).toEqual(before);
    expect((await run(0.3, { seed: 100 })).keep).not.toEqual(s1);
    manualSeed(43);
    expect((await run(0.5)).keep).not.toEqual(a);
  });

  it('is the identity in eval mode and at p = 0, and gives zeros at p = 1', async () => {
    for (const opts of [{ p: 0.5, training: false }, { p: 0, training: true }]) {
      const before = getRngState();
      const { y, same, dx } = await run(opts.p, { training: opts.training });
      expect(same).toBe(true);
      expect(dx).toBeNull();
      expect(Array.from(y)).toEqual(Array.from(Float32Array.from(xs.data)));
      expect(getRngState()).toEqual(before);
    }
    const { y, dx } = await run(1);
    expect(y.every((v) => v === 0)).toBe(true);
    expect(dx!.every((v) => v === 0)).toBe(true);
  });

  it('rejects p outside [0, 1]', () => {
    const x = Tensor.from([1, 2]);
    expect(() => dropout(x, 1.5)).toThrow(/\[0, 1\]/);
    expect(() => dropout(x, -0.1)).toThrow(/\[0, 1\]/);
    expect(() => dropout(x, NaN)).toThrow(/\[0, 1\]/);
    x.dispose();
  });
});
