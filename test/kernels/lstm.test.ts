// nn.LSTM forward against the float64 reference, backward against its finite differences,
// both against a committed PyTorch fixture, with time chunking forced, and its memory
// and per-step dispatch counts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor, liveBytes, liveTensors, tidy } from '../../src/engine/tensor.js';
import { stats } from '../../src/engine/runtime.js';
import { backward, noGrad } from '../../src/autograd/tape.js';
import { lstm, type LstmOpts, type LstmParams } from '../../src/autograd/lstm.js';
import { type Arr, rand } from '../ref/cpu.js';
import { lstmRefFlat } from '../ref/lstm.js';
import { check, expectClose, toGpu, useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();

interface Case {
  N: number;
  T: number;
  In: number;
  H: number;
  layers: number;
  bidirectional: boolean;
}

/** [x, then wIh, wHh, bIh, bHh per layer and direction], PyTorch-like scales. */
function inputs(c: Case, seed: number): Arr[] {
  const D = c.bidirectional ? 2 : 1, H = c.H, a = 1 / Math.sqrt(H);
  const xs = [rand([c.N, c.T, c.In], seed)];
  for (let k = 0; k < c.layers * D; k++) {
    const inK = k < D ? c.In : D * H;
    xs.push(rand([4 * H, inK], seed + 10 * k + 1, -a, a), rand([4 * H, H], seed + 10 * k + 2, -a, a));
    xs.push(rand([4 * H], seed + 10 * k + 3, -a, a), rand([4 * H], seed + 10 * k + 4, -a, a));
  }
  return xs;
}

function group(ts: Tensor[]): LstmParams[] {
  const ps: LstmParams[] = [];
  for (let i = 0; i < ts.length; i += 4) ps.push({ wIh: ts[i], wHh: ts[i + 1], bIh: ts[i + 2], bHh: ts[i + 3] });
  return ps;
}

const opts = (c: Case): LstmOpts => ({ hidden: c.H, layers: c.layers, bidirectional: c.bidirectional });
const name = (c: Case) => `N=${c.N} T=${c.T} In=${c.In} H=${c.H} L=${c.layers}${c.bidirectional ? ' bi' : ''}`;

/** Checks one case; `bindingBytes` lowers the binding limit (more time chunks, batch ranges). */
async function checkCase(c: Case, seed: number, grad: boolean, bindingBytes = 0): Promise<void> {
  await withConfig(bindingBytes ? { maxBindingBytes: bindingBytes } : {}, () => check(
    (ts) => lstm(ts[0], group(ts.slice(1)), opts(c)),
    (as) => lstmRefFlat(as, c.H, c.layers, c.bidirectional),
    inputs(c, seed),
    { atol: 2e-5, rtol: 1e-4, grad, what: name(c) },
  ));
}

describe.skipIf(!hasGpu)('lstm', () => {
  it('forward: 1 and 2 layers, uni- and bidirectional, N 1 and 3, T 1 and 5, In=5 H=3', async () => {
    let seed = 1;
    for (const layers of [1, 2]) for (const bidirectional of [false, true]) for (const N of [1, 3]) for (const T of [1, 5]) {
      await checkCase({ N, T, In: 5, H: 3, layers, bidirectional }, seed++, false);
    }
  });

  it('backward vs finite differences, every parameter (N=2 T=3 In=5 H=3, 2 layers, bidirectional)', async () => {
    await checkCase({ N: 2, T: 3, In: 5, H: 3, layers: 2, bidirectional: true }, 100, true);
  });

  it('backward vs finite differences, one unidirectional layer (N=1 T=5 In=5 H=3)', async () => {
    await checkCase({ N: 1, T: 5, In: 5, H: 3, layers: 1, bidirectional: false }, 200, true);
  });

  it('backward vs finite differences with aligned sizes (each direction\'s gradient a view of the stacked one; In=16 H=16)', async () => {
    await checkCase({ N: 2, T: 3, In: 16, H: 16, layers: 1, bidirectional: true }, 150, true);
  });

  it('time chunks and batch ranges give the same values and gradients', async () => {
    const c = { N: 3, T: 7, In: 5, H: 3, layers: 2, bidirectional: true };
    // one step is 3 * 24 floats: 400 bytes -> chunks of 1 step, x and y bound 1-2 samples at a time
    await checkCase(c, 300, true, 400);
    // chunks of 2 steps: the two directions share a chunk only mid-sequence
    await checkCase(c, 301, true, 600);
    await checkCase({ ...c, layers: 1, bidirectional: false }, 302, true, 200);
  });

  it('matches PyTorch 1.13 (committed fixture: 2 layers, bidirectional, float64 model)', async () => {
    const fx = JSON.parse(readFileSync(new URL('../fixtures/lstm/lstm.json', import.meta.url), 'utf8'));
    const { N, T, In, H, layers } = fx.config;
    const names = ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'];
    const keys = [0, 1].flatMap((k) => ['', '_reverse'].flatMap((r) => names.map((n) => `${n}_l${k}${r}`)));
    const leaves = [Tensor.from(fx.x, [N, T, In]), ...keys.map((k) => Tensor.from(fx.params[k].data, fx.params[k].shape))];
    for (const t of leaves) {
      t.keep();
      t.requiresGrad = true;
    }
    const y = tidy(() => {
      const out = lstm(leaves[0], group(leaves.slice(1)), { hidden: H, layers, bidirectional: true });
      backward(out, Tensor.from(fx.w, out.shape));
      return out;
    });
    expectClose(await y.read(), fx.y, 1e-5, 1e-4, 'y');
    expectClose(await leaves[0].grad!.read(), fx.dx, 1e-5, 1e-4, 'dx');
    for (const [i, k] of keys.entries()) expectClose(await leaves[i + 1].grad!.read(), fx.params[k].grad, 1e-5, 1e-4, k);
    y.dispose();
    for (const t of leaves) {
      t.grad!.dispose();
      t.dispose();
    }
  });

  it('frees everything it saved, with and without grad', async () => {
    const c = { N: 2, T: 4, In: 5, H: 3, layers: 2, bidirectional: true };
    const leaves = inputs(c, 400).map((a) => {
      const t = toGpu(a).keep();
      t.requiresGrad = true;
      return t;
    });
    const run = () => tidy(() => backward(lstm(leaves[0], group(leaves.slice(1)), opts(c)), toGpu(rand([2, 4, 6], 5))));
    run();
    for (const t of leaves) t.grad!.dispose(), (t.grad = null);
    const bytes = liveBytes(), tensors = liveTensors();
    run();
    for (const t of leaves) t.grad!.dispose(), (t.grad = null);
    expect([liveBytes(), liveTensors()]).toEqual([bytes, tensors]);
    tidy(() => {
      noGrad(() => lstm(leaves[0], group(leaves.slice(1)), opts(c)));
    });
    expect([liveBytes(), liveTensors()]).toEqual([bytes, tensors]);
    for (const t of leaves) t.dispose();
  });

  it('one dispatch per step and layer forward and one backward, both directions in it', async () => {
    const count = (T: number, grad: boolean) => {
      const c = { N: 2, T, In: 5, H: 3, layers: 2, bidirectional: true };
      const leaves = inputs(c, 500).map((a) => {
        const t = toGpu(a);
        t.requiresGrad = grad;
        return t;
      });
      const before = stats().dispatches;
      tidy(() => {
        const y = lstm(leaves[0], group(leaves.slice(1)), opts(c));
        if (grad) backward(y, toGpu(rand([2, T, 6], 6)));
      });
      for (const t of leaves) t.grad?.dispose(), t.dispose();
      return stats().dispatches - before;
    };
    const forward = count(9, false) - count(5, false);
    const both = count(9, true) - count(5, true);
    expect(forward / 4).toBe(2); // 2 layers x (recurrent product + gates)
    expect((both - forward) / 4).toBe(2);
  });

  it('fails clearly when one step of the batch cannot fit a binding', () => withConfig({ maxBindingBytes: 1024 }, () => {
    const x = Tensor.empty([64, 3, 5]);
    const ps = group(inputs({ N: 1, T: 1, In: 5, H: 3, layers: 1, bidirectional: false }, 1).slice(1).map(toGpu));
    expect(() => lstm(x, ps, { hidden: 3, layers: 1, bidirectional: false })).toThrow(/split the batch/);
    x.dispose();
    for (const p of ps) for (const t of Object.values(p)) t.dispose();
  }));
});
