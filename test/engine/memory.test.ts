// Stream-ordered memory reuse: results equal those with reuse off (and the float64
// reference), planned steps train to the same bits, training steps with no readback keep
// the pool and the bind-group cache flat, the pool gives memory back under a limit, and micro-batches give the whole
// batch's gradients.
import { describe, expect, it } from 'vitest';
import { Tensor, dispose, liveBytes, liveTensors, tidy } from '../../src/engine/tensor.js';
import { pace, resetPeaks, setMemoryLimit, setStreamReuse, stats, trimPool } from '../../src/engine/runtime.js';
import { stridedCopy } from '../../src/engine/shaders/layout.js';
import * as op from '../../src/autograd/ops.js';
import { Metrics } from '../../src/autograd/metrics.js';
import { manualSeed } from '../../src/nn/init.js';
import { modelSpec } from '../../src/models/index.js';
import { Adam, SGD } from '../../src/optim/index.js';
import { trainStep } from '../../src/models/step.js';
import { map, matmulRef, rand, type Arr } from '../ref/cpu.js';
import { expectClose, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

/** x -> tanh(x W_i) for i in 0..n, each W_i uploaded mid-chain, every intermediate freed at once. */
function chain(x0: Float32Array, ws: Float32Array[], d: number): Tensor {
  let x = Tensor.from(x0, [4, d]);
  for (const w of ws) {
    const next = tidy(() => op.tanh(op.matmul(x, Tensor.from(w, [d, d]))));
    x.dispose();
    x = next;
  }
  return x;
}

describe.skipIf(!hasGpu)('stream-ordered reuse', () => {
  const d = 24;
  const x0 = Float32Array.from(rand([4, d], 1).data);
  const ws = Array.from({ length: 12 }, (_, i) => Float32Array.from(rand([d, d], 10 + i).data).map((v) => v * 0.4));

  it('a chain of ops with uploads between them gives the same bits with reuse on and off, and the reference', async () => {
    const run = async (on: boolean) => {
      setStreamReuse(on);
      try {
        const y = chain(x0, ws, d);
        const out = await y.readF32();
        y.dispose();
        return out;
      } finally {
        setStreamReuse(true);
      }
    };
    const off = await run(false), on = await run(true);
    expect(Array.from(on)).toEqual(Array.from(off));
    let ref: Arr = { data: Float64Array.from(x0), shape: [4, d] };
    for (const w of ws) ref = map(matmulRef(ref, { data: Float64Array.from(w), shape: [d, d] }), Math.tanh);
    expectClose(on, ref.data, 1e-5, 1e-4);
  });

  it('reuses a released buffer in the same submit', () => {
    const submits = stats().submits;
    const a = Tensor.from(x0, [4, d]);
    const b = op.tanh(a);
    const buf = b.buffer;
    b.dispose();
    const c = op.tanh(a); // same size class, no submit between: the same buffer
    expect(c.buffer).toBe(buf);
    expect(stats().submits).toBe(submits);
    dispose([a, c]);
  });

  it('never hands a buffer that pending commands use to an upload', async () => {
    const a = Tensor.from(x0, [4, d]);
    const b = op.tanh(a); // pending: reads a, writes b
    b.dispose();
    const up = Tensor.from(new Float32Array(4 * d).fill(7), [4, d]); // must not land in b's buffer before tanh ran
    const c = op.tanh(a);
    expect(Array.from(await up.readF32())).toEqual(new Array(4 * d).fill(7));
    expectClose(await c.readF32(), Array.from(x0, Math.tanh), 1e-6, 1e-5);
    dispose([a, up, c]);
  });

  it('gives free buffers back under a memory limit, and all of them on trim', () => {
    const ts = Array.from({ length: 8 }, () => Tensor.empty([1 << 16]));
    dispose(ts);
    const held = stats().pooledBytes;
    expect(held - liveBytes()).toBeGreaterThanOrEqual(8 << 18);
    setMemoryLimit(held - 3 * (1 << 18));
    expect(stats().pooledBytes).toBeLessThanOrEqual(held - 3 * (1 << 18));
    setMemoryLimit(Infinity);
    trimPool();
    const trimmed = stats().pooledBytes;
    expect(trimmed).toBeLessThanOrEqual(held - (8 << 18));
    const t = Tensor.empty([1 << 16]); // no free buffer left to reuse: a new one
    expect(stats().pooledBytes).toBe(trimmed + (1 << 18));
    t.dispose();
  });
});

describe.skipIf(!hasGpu)('training steps without readback', () => {
  it('keep live, pooled and peak bytes and the bind-group cache flat over 200 steps', async () => {
    manualSeed(0);
    const spec = modelSpec('lenet');
    const model = spec.create({ ...spec.defaults, imageSize: 28, channels: 1, numClasses: 10 });
    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const metrics = new Metrics(10);
    const n = 4;
    const x = Float32Array.from(rand([n, 1, 28, 28], 3).data);
    const y = Int32Array.from({ length: n }, (_, i) => i % 10);
    const steps = 200;
    const history = Tensor.empty([steps]).keep();
    const at = new Map<number, ReturnType<typeof stats> & { tensors: number }>();
    resetPeaks();
    for (let step = 0; step < steps; step++) {
      tidy(() => {
        const loss = trainStep(model, { x, y, shape: [n, 1, 28, 28] }, opt, 1, metrics);
        stridedCopy(loss, history, [1], [1], [1], 0, step);
      });
      await pace(); // as train does: marks the step (the pool plans the steady one)
      if (step === 19 || step === steps - 1) at.set(step, { ...stats(), tensors: liveTensors() });
    }
    const a = at.get(19)!, b = at.get(steps - 1)!;
    expect(b.submits - a.submits).toBeLessThan(steps); // no readback, and no submit per dispatch
    expect(b.liveBytes).toBe(a.liveBytes);
    expect(b.tensors).toBe(a.tensors);
    expect(b.pooledBytes).toBe(a.pooledBytes);
    expect(b.peakPooledBytes).toBe(a.peakPooledBytes);
    expect(b.peakLiveBytes).toBe(a.peakLiveBytes);
    expect(b.bindGroups).toBe(a.bindGroups); // every step binds the same buffers again
    const losses = await history.readF32();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[steps - 1]).toBeLessThan(losses[0]);
    dispose([history]);
    metrics.dispose();
    opt.dispose();
    model.dispose();
  });
});

describe.skipIf(!hasGpu)('planned steps', () => {
  it('train to the same bits as with reuse off, through a step of another batch size', async () => {
    const spec = modelSpec('lenet');
    const x = Float32Array.from(rand([4, 1, 28, 28], 8).data);
    const y = Int32Array.from({ length: 4 }, (_, i) => (i * 7) % 10);
    const run = async (reuse: boolean) => {
      setStreamReuse(reuse);
      manualSeed(3);
      const model = spec.create({ ...spec.defaults, imageSize: 28, channels: 1, numClasses: 10 });
      const opt = new Adam(model.parameters(), { lr: 1e-3 });
      const metrics = new Metrics(10);
      const history = Tensor.empty([10]).keep();
      try {
        for (let step = 0; step < 10; step++) {
          const n = step === 6 ? 3 : 4; // step 6 leaves the plan made from steps 3-5
          tidy(() => {
            const loss = trainStep(model, { x: x.subarray(0, n * 784), y: y.subarray(0, n), shape: [n, 1, 28, 28] }, opt, 1, metrics);
            stridedCopy(loss, history, [1], [1], [1], 0, step);
          });
          await pace();
        }
        return Array.from(await history.readF32());
      } finally {
        setStreamReuse(true);
        dispose([history]);
        metrics.dispose();
        opt.dispose();
        model.dispose();
      }
    };
    const off = await run(false), on = await run(true);
    expect(on).toEqual(off);
    expect(on[9]).toBeLessThan(on[0]);
  });
});

describe.skipIf(!hasGpu)('micro-batches', () => {
  it('give the whole batch\'s loss and gradients (LeNet, SGD step with lr 1)', async () => {
    const spec = modelSpec('lenet');
    const config = { ...spec.defaults, imageSize: 20, channels: 3, numClasses: 4 };
    const n = 10;
    const batch = { x: Float32Array.from(rand([n, 3, 20, 20], 5).data), y: Int32Array.from({ length: n }, (_, i) => (i * 3) % 4), shape: [n, 3, 20, 20] };
    const run = async (micro: number) => {
      manualSeed(7);
      const model = spec.create(config);
      const before = await Promise.all(model.parameters().map((p) => p.readF32()));
      const opt = new SGD(model.parameters(), { lr: 1 });
      const metrics = new Metrics(4);
      const loss = tidy(() => trainStep(model, batch, opt, 0, metrics, micro));
      const l = await loss.item();
      const grads = await Promise.all(model.parameters().map(async (p, i) => (await p.readF32()).map((v, j) => before[i][j] - v)));
      const m = await metrics.read();
      dispose([loss]);
      metrics.dispose();
      opt.dispose();
      model.dispose();
      return { l, grads, m };
    };
    const whole = await run(0);
    for (const micro of [3, 5]) {
      const r = await run(micro);
      expect(r.l).toBeCloseTo(whole.l, 5);
      expect(r.m.count).toBe(n);
      expect(r.m.correct).toBe(whole.m.correct);
      r.grads.forEach((g, i) => expectClose(g, whole.grads[i], 1e-5, 1e-4, `micro ${micro} param ${i}`));
    }
  });
});
