// Fused attention against the float64 reference: forward (and the saved logsumexp),
// backward against finite differences on tiny shapes and against the analytic gradient
// at medium ones; both kernel configurations (lavapipe's direct loads, the GPUs' tiles in
// workgroup memory with unrolled rows), the (B, T, heads * d) layout, cross-attention
// shapes and head sizes that are not a multiple of 4.
// Pipelines are few on purpose (each is an LLVM compile on lavapipe): the direct kernels
// serve every d <= 64, the unrolled tiled ones are compiled for d = 8 and 64 only.
import { describe, expect, it } from 'vitest';
import { Tensor, liveTensors, tidy } from '../../src/engine/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { attention, attentionHeads, mergeHeads, splitHeads, type AttentionConfig } from '../../src/autograd/attention.js';
import { attentionForward } from '../../src/engine/shaders/attention.js';
import { type Arr, permuteRef, rand } from '../ref/cpu.js';
import { attentionGradRef, attentionRef, logsumexpRef } from '../ref/attention.js';
import { check, expectClose, toGpu, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

const DIRECT: AttentionConfig = { WG: 16, RQ: 4, KB: 0, unroll: false }; // lavapipe's
const TILED: AttentionConfig = { WG: 16, RQ: 1, KB: 8, unroll: true }; // the GPU path, with tiles small enough that T spans several
const name = (c: AttentionConfig) => `${c.KB ? `tiled KB=${c.KB}` : 'direct'} WG=${c.WG} RQ=${c.RQ}`;

/** q, k, v (B, h, T, d) with values in [-r, r). */
function qkv(B: number, h: number, Tq: number, Tk: number, d: number, seed: number, r = 1): Arr[] {
  return [rand([B, h, Tq, d], seed, -r, r), rand([B, h, Tk, d], seed + 1, -r, r), rand([B, h, Tk, d], seed + 2, -r, r)];
}

/** Runs fn with grads on, back-propagates `dout`, returns out, dq, dk, dv. */
async function runGrad(fn: (xs: Tensor[]) => Tensor, inputs: Arr[], dout: Arr): Promise<Float32Array[]> {
  const xs = inputs.map((a) => {
    const t = toGpu(a).keep();
    t.requiresGrad = true;
    return t;
  });
  const y = tidy(() => {
    const out = fn(xs);
    backward(out, toGpu(dout));
    return out;
  });
  const res = [await y.readF32(), ...(await Promise.all(xs.map((x) => x.grad!.readF32())))];
  y.dispose();
  for (const x of xs) {
    x.grad!.dispose();
    x.dispose();
  }
  return res;
}

/** Forward and the three gradients against attentionRef / attentionGradRef (analytic, float64). */
async function checkAnalytic(config: AttentionConfig, inputs: Arr[], what: string, { scale = undefined as number | undefined, atol = 2e-5, gatol = 1e-4 } = {}) {
  const [q, k, v] = inputs;
  const want = attentionRef(q, k, v, scale);
  const dout = rand(want.shape, 5);
  const [out, ...grads] = await runGrad((xs) => attention(xs[0], xs[1], xs[2], { config, scale }), inputs, dout);
  expectClose(out, want.data, atol, 1e-4, `${what} forward`);
  attentionGradRef(q, k, v, dout, scale).forEach((g, i) => expectClose(grads[i], g.data, gatol, 1e-3, `${what} d${'qkv'[i]}`));
}

describe.skipIf(!hasGpu)('attention', () => {
  it('forward and backward (finite differences) on small odd shapes', async () => {
    const shapes = (d4: number | null) => [[1, 1, 1, d4 ?? 4], [2, 3, 5, 8], [1, 1, 17, d4 ?? 16]];
    for (const [config, d4] of [[DIRECT, null], [TILED, 8]] as const) {
      for (const [k, [B, h, T, d]] of shapes(d4).entries()) {
        await check((xs) => attention(xs[0], xs[1], xs[2], { config }), ([q, kk, v]) => attentionRef(q, kk, v), qkv(B, h, T, T, d, 10 + k), {
          what: `${name(config)} B=${B} h=${h} T=${T} d=${d}`,
        });
      }
    }
  });

  it('forward at ViT-B/16 size (T=197, d=64), with the saved logsumexp', async () => {
    const [q, k, v] = qkv(1, 2, 197, 197, 64, 20);
    const want = attentionRef(q, k, v), lse = logsumexpRef(q, k);
    const dims = { BH: 2, H: 1, Tq: 197, Tk: 197, d: 64, layout: 'bhtd' as const };
    for (const config of [undefined, DIRECT, TILED]) {
      const r = tidy(() => attentionForward(toGpu(q), toGpu(k), toGpu(v), dims, 1 / 8, [1, 2, 197], config));
      const what = config ? name(config) : "this adapter's config";
      expectClose(await r.y.readF32(), want.data, 2e-5, 1e-4, `${what} out`);
      expectClose(await r.saved.lse.readF32(), lse.data, 2e-5, 1e-5, `${what} logsumexp`);
      r.y.dispose();
      r.saved.lse.dispose();
    }
  });

  it('backward against the analytic gradient (T=33)', async () => {
    await checkAnalytic(DIRECT, qkv(2, 2, 33, 33, 16, 30), name(DIRECT));
    await checkAnalytic(TILED, qkv(2, 2, 33, 33, 8, 31), name(TILED));
  });

  it('cross-attention shapes (Tq != Tk), a 3-d batch and an explicit scale', async () => {
    for (const config of [DIRECT, TILED]) {
      const batch3d = qkv(2, 1, 3, 19, 8, 40).map((a) => ({ ...a, shape: [2, ...a.shape.slice(2)] }));
      await checkAnalytic(config, batch3d, `${name(config)} Tq=3 Tk=19`, { scale: 0.3 });
      await checkAnalytic(config, qkv(1, 2, 21, 2, 8, 41), `${name(config)} Tq=21 Tk=2`);
    }
    await check((xs) => attention(xs[0], xs[1], xs[2]), ([q, k, v]) => attentionRef(q, k, v), qkv(1, 2, 0, 3, 8, 42), { what: 'no queries' });
  });

  it('more heads than one dispatch dimension holds (folded workgroups)', async () => {
    const [q, k, v] = qkv(65537, 1, 2, 2, 4, 45);
    const dims = { BH: 65537, H: 1, Tq: 2, Tk: 2, d: 4, layout: 'bhtd' as const };
    const r = tidy(() => attentionForward(toGpu(q), toGpu(k), toGpu(v), dims, 0.5, [65537, 1, 2], DIRECT));
    expectClose(await r.y.readF32(), attentionRef(q, k, v, 0.5).data, 2e-5, 1e-4, 'folded out');
    r.y.dispose();
    r.saved.lse.dispose();
  });

  it('stays finite and exact for large logits (online softmax rescaling)', async () => {
    // scores up to about ±100: their exp() overflows f32 without the running max
    for (const config of [DIRECT, TILED]) {
      await checkAnalytic(config, qkv(1, 2, 29, 29, 8, 60, 6), `${name(config)} large logits`, { atol: 1e-4, gatol: 2e-3 });
    }
  });

  it('head sizes that are not a multiple of 4 (zero-padded heads)', async () => {
    for (const [T, d] of [[6, 3], [11, 6]]) {
      await check((xs) => attention(xs[0], xs[1], xs[2]), ([q, k, v]) => attentionRef(q, k, v), qkv(1, 2, T, T, d, 50 + d), { what: `T=${T} d=${d}` });
    }
    await checkAnalytic(DIRECT, qkv(1, 3, 40, 40, 10, 55), 'T=40 d=10');
  });

  it('(B, T, heads * d) layout: attentionHeads equals merge(attention(split)) without copies', async () => {
    const B = 2, h = 3;
    // reference: split the heads in float64, attend, merge back
    const ref = ([q, k, v]: Arr[]) => {
      const d = q.shape[2] / h;
      const split = (a: Arr) => permuteRef({ data: a.data, shape: [B, a.shape[1], h, d] }, [0, 2, 1, 3]);
      return { data: permuteRef(attentionRef(split(q), split(k), split(v)), [0, 2, 1, 3]).data, shape: [...q.shape] };
    };
    const xs = (Tq: number, Tk: number, d: number, s: number) => [rand([B, Tq, h * d], s), rand([B, Tk, h * d], s + 1), rand([B, Tk, h * d], s + 2)];
    for (const config of [DIRECT, TILED]) {
      await check((ts) => attentionHeads(ts[0], ts[1], ts[2], h, { config }), ref, xs(7, 7, 8, 70), { what: `${name(config)} heads` });
      await check((ts) => attentionHeads(ts[0], ts[1], ts[2], h, { config }), ref, xs(4, 9, 8, 73), { what: `${name(config)} heads Tq=4 Tk=9` });
    }
    await check((ts) => attentionHeads(ts[0], ts[1], ts[2], h), ref, xs(5, 5, 3, 76), { what: 'heads d=3 (padded)' });
    // the copying helpers give the same result
    await check((ts) => mergeHeads(attention(splitHeads(ts[0], h), splitHeads(ts[1], h), splitHeads(ts[2], h))), ref, xs(7, 7, 8, 79), { what: 'split/merge helpers' });
  });

  it('frees its saved logsumexp and temporaries; rejects bad shapes', async () => {
    const [q, k, v] = qkv(1, 2, 9, 9, 8, 80);
    const before = liveTensors();
    const out = await runGrad((xs) => attention(xs[0], xs[1], xs[2]), [q, k, v], rand([1, 2, 9, 8], 81));
    expect(out).toHaveLength(4);
    expect(liveTensors()).toBe(before);
    // without grad the logsumexp is dropped at once
    const y = tidy(() => attention(toGpu(q), toGpu(k), toGpu(v)));
    expect(liveTensors()).toBe(before + 1);
    expectClose(await y.readF32(), attentionRef(q, k, v).data, 2e-5, 1e-4, 'no-grad forward');
    y.dispose();
    expect(() => tidy(() => attention(toGpu(q), toGpu(rand([1, 2, 9, 4], 1)), toGpu(v)))).toThrow(/attention/);
    expect(() => tidy(() => attentionHeads(toGpu(rand([1, 9, 12], 2)), toGpu(rand([1, 9, 12], 3)), toGpu(rand([1, 9, 12], 4)), 5))).toThrow(/attentionHeads/);
    expect(liveTensors()).toBe(before);
  });
});
