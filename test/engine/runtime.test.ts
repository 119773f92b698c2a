// Memory stays flat across training steps, pipelines are cached, big dispatches fold,
// readbacks interleave with submits, and a missing adapter is a clear error.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Tensor, liveBytes, liveTensors, tidy } from '../../src/engine/tensor.js';
import { stats } from '../../src/engine/runtime.js';
import { axpy, unary } from '../../src/engine/shaders/elementwise.js';
import { stridedCopy } from '../../src/engine/shaders/layout.js';
import * as op from '../../src/autograd/ops.js';
import { backward } from '../../src/autograd/tape.js';
import { fold } from '../../src/engine/runtime.js';
import { sizeClass } from '../../src/engine/pool.js';
import { rand } from '../ref/cpu.js';
import { expectClose, toGpu, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

describe.skipIf(!hasGpu)('memory', () => {
  it('liveBytes is the same after step 2 and step 20 of a training loop', async () => {
    const W1 = toGpu(rand([16, 8], 1)).keep(), b1 = toGpu(rand([16], 2)).keep();
    const W2 = toGpu(rand([3, 16], 3)).keep();
    const params = [W1, b1, W2];
    for (const p of params) p.requiresGrad = true;
    const x = toGpu(rand([5, 8], 4)).keep();
    const history = Tensor.empty([20]).keep(); // each step's loss, read once at the end: nothing is read back between steps
    let after2 = 0, tensors2 = 0;
    for (let step = 1; step <= 20; step++) {
      tidy(() => {
        const h = op.matmul(x, W1, { transB: true, bias: b1, relu: true });
        const logits = op.matmul(h, W2, { transB: true });
        const l = op.mean(op.mul(logits, logits));
        backward(l);
        for (const p of params) {
          axpy(p, p.grad!, -0.05);
          p.grad!.dispose();
          p.grad = null;
        }
        stridedCopy(l, history, [1], [1], [1], 0, step - 1);
      });
      if (step === 2) {
        after2 = liveBytes();
        tensors2 = liveTensors();
      }
    }
    expect(liveBytes()).toBe(after2);
    expect(liveTensors()).toBe(tensors2);
    const losses = await history.readF32();
    expect(losses[19]).toBeLessThan(losses[0]); // the updates did something
    for (const t of [...params, x, history]) t.dispose();
  });

  it('tidy releases on throw, keeps what is returned or kept', () => {
    const before = liveTensors();
    expect(() => tidy(() => {
      Tensor.from([1, 2]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(liveTensors()).toBe(before);
    let kept: Tensor | null = null;
    const [a] = tidy(() => {
      kept = Tensor.from([1]).keep();
      Tensor.from([2]);
      return [Tensor.from([3])];
    });
    expect(liveTensors()).toBe(before + 2);
    a.dispose();
    kept!.dispose();
    expect(liveTensors()).toBe(before);
  });

  it('views share a buffer that lives until the last view is disposed', async () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const bytes = liveBytes();
    const v = t.view([3, 2]);
    expect(liveBytes()).toBe(bytes);
    t.dispose();
    expect(Array.from(await v.read())).toEqual([1, 2, 3, 4, 5, 6]);
    v.dispose();
    expect(liveBytes()).toBeLessThan(bytes);
  });
});

describe.skipIf(!hasGpu)('runtime', () => {
  it('caches pipelines: a repeated step creates none', () => {
    const x = Tensor.from([1, 2, 3]);
    const step = () => tidy(() => { op.sum(op.exp(op.mul(x, x))); });
    step();
    const n = stats().pipelines;
    for (let i = 0; i < 5; i++) step();
    expect(stats().pipelines).toBe(n);
    x.dispose();
  });

  it('folds dispatches above 65,535 workgroups', async () => {
    expect(fold(65535)).toEqual([65535, 1, 1]);
    const [x, y] = fold(200000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200000);
    const n = 65535 * 256 + 1000; // 65,539 workgroups of 256
    const t = tidy(() => unary('addScalar', Tensor.from(new Float32Array(n)), 2));
    const v = await t.read();
    expect(v[0]).toBe(2);
    expect(v[n - 1]).toBe(2);
    expect(v.every((z) => z === 2)).toBe(true);
    t.dispose();
  });

  it('interleaves many readbacks and submits', async () => {
    const a = toGpu(rand([64, 64], 5)).keep();
    let acc = Tensor.from(new Float32Array(64 * 64), [64, 64]).keep();
    for (let i = 0; i < 40; i++) {
      const next = tidy(() => op.add(acc, op.matmul(a, a)));
      acc.dispose();
      acc = next.keep();
      const v = await acc.read();
      expect(Number.isFinite(v[0])).toBe(true);
    }
    const one = tidy(() => op.matmul(a, a));
    const a2 = await one.read();
    expectClose(await acc.read(), Array.from(a2, (v) => v * 40), 1e-3, 1e-4);
    for (const t of [a, acc, one]) t.dispose();
  });

  it('size classes round up by powers of two, then by eighths', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(1000)).toBe(1024);
    expect(sizeClass((1 << 20) + 1)).toBe((1 << 20) + (1 << 17));
    expect(sizeClass(3 << 20)).toBe(3 << 20);
  });

  it('times compute passes with timestamp queries', async () => {
    const { gpu } = await import('../../src/engine/device.js');
    const { startGpuTimer, stopGpuTimer, runtime } = await import('../../src/engine/runtime.js');
    if (!gpu().features.has('timestamp-query')) {
      expect(startGpuTimer()).toBe(false);
      return;
    }
    const a = toGpu(rand([128, 128], 6)).keep();
    const timed = async (reps: number, passes: number) => {
      expect(startGpuTimer()).toBe(true);
      const t0 = performance.now();
      tidy(() => {
        for (let p = 0; p < passes; p++) {
          for (let r = 0; r < reps; r++) op.matmul(a, a);
          runtime().commandEncoder(); // ends the pass
        }
      });
      const t = await stopGpuTimer();
      return { t: t!, wall: (performance.now() - t0) / 1e3 };
    };
    await timed(1, 1); // warm-up: lavapipe compiles a pipeline on its first dispatch, inside the timed pass
    const one = await timed(1, 1), many = await timed(16, 3);
    expect(one.t.passes).toBe(1);
    expect(many.t.passes).toBe(3);
    for (const { t, wall } of [one, many]) {
      expect(t.busy).toBeGreaterThan(0);
      expect(t.busy).toBeLessThanOrEqual(t.span * (1 + 1e-9));
      expect(t.span).toBeLessThan(wall);
    }
    expect(many.t.busy).toBeGreaterThan(one.t.busy * 4); // 48 times the work
    // per dispatch: a pass each, named by the kernel's first WGSL comment
    expect(startGpuTimer({ perDispatch: true })).toBe(true);
    tidy(() => { op.matmul(a, a); op.matmul(a, a); unary('addScalar', a, 1); });
    const prof = (await stopGpuTimer())!;
    expect(prof.passes).toBe(3);
    expect(prof.dispatches!.map((d) => d.kernel)).toEqual([expect.stringMatching(/op\(A\[b\]\) op\(B\[b\]\)/), expect.stringMatching(/op\(A/), expect.any(String)]);
    expect(prof.dispatches![2].kernel).not.toBe(prof.dispatches![0].kernel);
    const sum = prof.dispatches!.reduce((s, d) => s + d.seconds, 0);
    expect(sum).toBeCloseTo(prof.busy, 9);
    expect(prof.dispatches!.every((d) => d.seconds > 0)).toBe(true);
    // More passes than the query set holds: no figure rather than a wrong one.
    expect(startGpuTimer()).toBe(true);
    const x = Tensor.from([1, 2, 3]);
    for (let p = 0; p < 2049; p++) {
      unary('addScalar', x, 1).dispose();
      runtime().commandEncoder();
    }
    expect(await stopGpuTimer()).toBeNull();
    for (const t of [a, x]) t.dispose();
  });

  it('raises shader errors instead of computing garbage', async () => {
    const { dispatch } = await import('../../src/engine/runtime.js');
    const t = Tensor.from([1]);
    dispatch('this is not wgsl', [t], null, 1);
    await expect(t.read()).rejects.toThrow(/WebGPU error/);
    t.dispose();
  });
});

describe('no adapter', () => {
  it('prints a clear error and exits non-zero', () => {
    expect(existsSync('dist/cli.js'), 'run `npm run build` first').toBe(true);
    const r = spawnSync(process.execPath, ['dist/cli.js', '--adapter', 'no-such-adapter-anywhere', 'device'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: no WebGPU adapter found/);
    expect(r.stderr).toMatch(/apt-get install -t bookworm-backports mesa-vulkan-drivers/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe.skipIf(!hasGpu)('limits', () => {
  it('a tensor above the largest buffer is a clear error, not a device error', () => {
    expect(() => Tensor.empty([1 << 20, 1 << 12])).toThrow(/needs 16\.00 GiB, above this adapter's largest buffer .*smaller batch/);
  });
});
