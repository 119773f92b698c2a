// Comparisons of GPU results with the float64 references, with no test runner in them:
// the Node suites (through test/gpu.ts) and the browser suites (test/browser/) share them.
// A mismatch throws an Error naming the worst element.
import { Tensor, tidy } from '../src/engine/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { type Arr, numericGrad, rand } from './ref/cpu.js';

export function toGpu(a: Arr): Tensor {
  return Tensor.from(Float32Array.from(a.data), a.shape);
}

/** |got - want| <= atol + rtol * |want| elementwise, with the worst offender in the message. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = ''): void {
  if (got.length !== want.length) throw new Error(`${what} length: got ${got.length}, want ${want.length}`);
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
    throw new Error(`${what} mismatch at ${worst}: got ${got[worst]}, want ${want[worst]} (atol ${atol}, rtol ${rtol})`);
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
  if (y.shape.join() !== want.shape.join()) throw new Error(`${what} shape: got [${y.shape}], want [${want.shape}]`);
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

