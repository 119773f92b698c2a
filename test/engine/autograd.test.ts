// The tape: shared inputs, diamonds and residuals, noGrad, requiresGrad, and freeing.
import { describe, expect, it } from 'vitest';
import { Tensor, liveTensors, tidy } from '../../src/engine/tensor.js';
import * as op from '../../src/autograd/ops.js';
import { backward, noGrad } from '../../src/autograd/tape.js';
import { expectClose, useGpu } from '../gpu.js';

const hasGpu = await useGpu();

function leaf(values: number[], shape = [values.length]): Tensor {
  const t = Tensor.from(values, shape).keep();
  t.requiresGrad = true;
  return t;
}

describe.skipIf(!hasGpu)('autograd', () => {
  it('diamond: y = (x*x) * (x+1), dy/dx = 3x^2 + 2x', async () => {
    const xs = [-1.5, 0.5, 2, 3];
    const x = leaf(xs);
    tidy(() => {
      const a = op.mul(x, x);
      const b = op.addScalar(x, 1);
      backward(op.sum(op.mul(a, b)));
    });
    expectClose(await x.grad!.read(), xs.map((v) => 3 * v * v + 2 * v));
  });

  it('residual: y = relu(W x) + x, summed, with x used three times', async () => {
    const x = leaf([1, -2, 3], [3, 1]);
    const W = leaf([1, 0, 0, 0, -1, 0, 0.5, 0.5, 1], [3, 3]);
    tidy(() => backward(op.sum(op.add(op.relu(op.matmul(W, x)), op.mul(x, x)))));
    // Wx = [1, 2, 2.5]: all positive, so d/dx = W^T 1 + 2x; d/dW = 1 x^T
    expectClose(await x.grad!.read(), [1 + 0 + 0.5 + 2, 0 - 1 + 0.5 - 4, 0 + 0 + 1 + 6]);
    expectClose(await W.grad!.read(), [1, -2, 3, 1, -2, 3, 1, -2, 3]);
  });

  it('accumulates into leaf grads across backward calls, as PyTorch', async () => {
    const x = leaf([1, 2]);
    tidy(() => backward(op.sum(op.mulScalar(x, 3))));
    tidy(() => backward(op.sum(op.mulScalar(x, 3))));
    expectClose(await x.grad!.read(), [6, 6]);
  });

  it('records nothing under noGrad or without requiresGrad', async () => {
    const x = leaf([1, 2]);
    const c = Tensor.from([3, 4]).keep();
    const y = noGrad(() => op.mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    const z = op.mul(c, c);
    expect(z.requiresGrad).toBe(false);
    expect(() => backward(op.sum(z))).toThrow(/does not require grad/);
    const w = op.mul(x, c);
    expect(w.requiresGrad).toBe(true);
    tidy(() => backward(op.sum(w)));
    expect(c.grad).toBeNull();
    expectClose(await x.grad!.read(), [3, 4]);
    for (const t of [y, z, w]) t.dispose();
  });

  it('frees the graph as it goes: only the returned tensor survives the scope', async () => {
    const x = leaf([1, 2, 3]);
    const before = liveTensors();
    const y = tidy(() => {
      const h = op.tanh(op.mul(x, x));
      const out = op.sum(op.mul(h, h));
      backward(out);
      expect(out.node).toBeNull();
      expect(h.node).toBeNull();
      return out;
    });
    expect(liveTensors()).toBe(before + 2); // y and x.grad
    expect(y.node).toBeNull();
    y.dispose();
  });

  it('rejects a non-scalar root without a gradient', () => {
    const x = leaf([1, 2]);
    const y = op.mul(x, x);
    expect(() => backward(y)).toThrow(/non-scalar/);
    y.dispose();
  });
});
