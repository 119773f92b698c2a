// Shared set-up for GPU suites: one device for the whole run (vitest runs every file
// in one process). Without an adapter the suites skip, except under CI, where a
// missing adapter fails them: a green CI means the GPU suites ran.
import { beforeAll, expect } from 'vitest';
import { initDevice } from '../src/engine/node_gpu.js';
import { Tensor, tidy } from '../src/engine/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { type Arr, numericGrad, rand } from './ref/cpu.js';

let available: boolean | null = null;

export async function gpuAvailable(): Promise<boolean> {
  if (available === null) {
    try {
      await initDevice();
      available = true;
    } catch (e) {
      if (process.env.CI) throw e;
      available = false;
    }
  }
  return available;
}

/** Top-level `const hasGpu = await useGpu();` then `describe.skipIf(!hasGpu)`. */
export async function useGpu(): Promise<boolean> {
  const ok = await gpuAvailable();
  beforeAll(async () => {
    if (ok) await initDevice();
  });
  return ok;
}

export function toGpu(a: Arr): Tensor {
  return Tensor.from(Float32Array.from(a.data), a.shape);
}

/** |got - want| <= atol + rtol * |want| elementwise, with the worst offender in the message. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = ''): void {
  expect(got.length, `${what} length`).toBe(want.length);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
      if (Number.isNaN(err)) break;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what} mismatch at ${worst}: got ${got[worst]}, want ${want[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Runs f on the GPU with grads on, back-propagates w, and checks values and grads. */
export async function check(
  gpuFn: (xs: Tensor[]) => Tensor,
  refFn: (xs: Arr[]) => Arr,
  inputs: Arr[],
  { atol = 1e-5, rtol = 1e-4, gradAtol = 3e-4, gradRtol = 3e-3, grad = true, what = '' } = {},
): Promise<void> {
  const want = refFn(inputs);
  const xs = inputs.map((a) => {
    const t = toGpu(a).keep();
    t.requiresGrad = grad;
    return t;
  });
  const w = rand(want.shape, 99);
  const y = tidy(() => {
    const out = gpuFn(xs);
    if (grad) backward(out, toGpu(w));
    return out;
  });
  expectClose(await y.read(), want.data, atol, rtol, `${what} forward`);
  expect(y.shape).toEqual(want.shape);
  y.dispose();
  if (grad) {
    const num = numericGrad(refFn, inputs, w);
    for (let i = 0; i < xs.length; i++) {
      expectClose(await xs[i].grad!.read(), num[i].data, gradAtol, gradRtol, `${what} grad ${i}`);
    }
  }
  for (const x of xs) {
    x.grad?.dispose();
    x.dispose();
  }
}

