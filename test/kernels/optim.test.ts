// Adam, SGD, clip_grad_norm and ReduceLROnPlateau against float64 references of
// PyTorch's formulas; chunked bindings forced with a small chunk size; state round trips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, liveBytes, liveTensors, tidy } from '../../src/engine/tensor.js';
import { stats } from '../../src/engine/runtime.js';
import { config, overrideConfig, type EngineConfig } from '../../src/engine/config.js';
import { Adam, SGD, clipGradNorm, gradNormScale, ReduceLROnPlateau, type AdamOptions, type SGDOptions } from '../../src/optim/index.js';
import { rand } from '../ref/cpu.js';
import { adamRefState, adamStepRef, clipRef, sgdStepRef, type AdamRefState } from '../ref/optim.js';
import { expectClose, useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();

// sizes 7, 15, 16 (vec4 path), 66, and 1 (batch-1-like)
const SHAPES = [[7], [3, 5], [4, 4], [2, 33], [1]];

function makeParams(shapes: number[][], seed: number): { ps: Tensor[]; ref: Float64Array[] } {
  const ref = shapes.map((s, k) => rand(s, seed + k).data);
  const ps = ref.map((d, k) => Tensor.from(Float32Array.from(d), shapes[k]).keep());
  return { ps, ref };
}

/** Gradients for step t (deterministic), with a few scaled up so that clipping matters. */
function grads(shapes: number[][], t: number, mag = 1): Float64Array[] {
  return shapes.map((s, k) => rand(s, 1000 + 17 * t + k, -mag, mag).data);
}

function setGrads(ps: Tensor[], gs: (Float64Array | null)[]): void {
  ps.forEach((p, k) => {
    p.grad?.dispose();
    p.grad = gs[k] ? Tensor.from(Float32Array.from(gs[k]!), p.shape).keep() : null;
  });
}

async function expectParams(ps: Tensor[], ref: Float64Array[], what: string, atol = 2e-6, rtol = 2e-5): Promise<void> {
  for (let k = 0; k < ps.length; k++) expectClose(await ps[k].read(), ref[k], atol, rtol, `${what} param ${k}`);
}

function free(ps: Tensor[]): void {
  for (const p of ps) {
    p.grad?.dispose();
    p.grad = null;
    p.dispose();
  }
}

const adamHyper = (o: AdamOptions, lr: number) => ({
  lr, beta1: o.betas?.[0] ?? 0.9, beta2: o.betas?.[1] ?? 0.999, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0,
});

async function runAdam(o: AdamOptions, lrs: number[], shapes = SHAPES, what = ''): Promise<void> {
  const { ps, ref } = makeParams(shapes, 5);
  const opt = new Adam(ps, o);
  const st = shapes.map((_, k) => adamRefState(ref[k].length));
  for (const [t, lr] of lrs.entries()) {
    const gs = grads(shapes, t);
    setGrads(ps, gs);
    opt.lr = lr;
    opt.step();
    gs.forEach((g, k) => adamStepRef(ref[k], g, st[k], adamHyper(o, lr)));
    await expectParams(ps, ref, `${what} step ${t + 1}`);
  }
  const sd = await opt.stateDict();
  st.forEach((s, k) => {
    expect(sd.state[k].step).toBe(lrs.length);
    expectClose(sd.state[k].exp_avg as Float32Array, s.m, 1e-7, 1e-5, `${what} exp_avg ${k}`);
    expectClose(sd.state[k].exp_avg_sq as Float32Array, s.v, 1e-9, 1e-5, `${what} exp_avg_sq ${k}`);
  });
  opt.dispose();
  free(ps);
}

describe.skipIf(!hasGpu)('Adam', () => {
  it('matches torch.optim.Adam over 4 steps with the lr changed between steps', async () => {
    await runAdam({}, [1e-2, 1e-2, 5e-3, 2e-2], SHAPES, 'default');
  });

  it('with L2 weight decay, other betas and eps', async () => {
    await runAdam({ weightDecay: 0.1, betas: [0.8, 0.99], eps: 1e-6 }, [3e-2, 1e-2, 1e-2], SHAPES, 'wd');
  });

  it('changing lr and step compiles no new pipeline', async () => {
    const { ps } = makeParams([[5], [8]], 3);
    const opt = new Adam(ps);
    setGrads(ps, grads([[5], [8]], 0));
    opt.step();
    const before = stats().pipelines;
    for (let t = 0; t < 3; t++) {
      opt.lr *= 0.5;
      opt.step();
    }
    expect(stats().pipelines).toBe(before);
    opt.dispose();
    free(ps);
  });

  it('leaves a parameter with a null gradient untouched, and counts its steps from its first gradient', async () => {
    const shapes = [[6], [9]];
    const { ps, ref } = makeParams(shapes, 41);
    const opt = new Adam(ps, { lr: 0.05 });
    const st = [adamRefState(6), adamRefState(9)];
    const h = adamHyper({}, 0.05);
    for (let t = 0; t < 3; t++) {
      const gs = grads(shapes, t);
      setGrads(ps, [gs[0], t === 0 ? null : gs[1]]);
      opt.step();
      adamStepRef(ref[0], gs[0], st[0], h);
      if (t > 0) adamStepRef(ref[1], gs[1], st[1], h);
      await expectParams(ps, ref, `step ${t + 1}`);
    }
    const sd = await opt.stateDict();
    expect(sd.state[0].step).toBe(3);
    expect(sd.state[1].step).toBe(2);
    opt.dispose();
    free(ps);
  });

  it('zeroGrad sets the gradients to null and frees them', () => {
    const { ps } = makeParams([[5], [3]], 8);
    const opt = new Adam(ps);
    setGrads(ps, grads([[5], [3]], 0));
    const before = liveTensors();
    opt.zeroGrad();
    expect(ps.map((p) => p.grad)).toEqual([null, null]);
    expect(liveTensors()).toBe(before - 2);
    free(ps);
  });
});

describe.skipIf(!hasGpu)('SGD', () => {
  const CASES: SGDOptions[] = [
    { lr: 0.1 },
    { lr: 0.1, weightDecay: 0.05 },
    { lr: 0.05, momentum: 0.9 },
    { lr: 0.05, momentum: 0.9, nesterov: true },
    { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.01 },
    { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.02 },
  ];
  for (const o of CASES) {
    it(`matches torch.optim.SGD ${JSON.stringify(o)}`, async () => {
      const { ps, ref } = makeParams(SHAPES, 61);
      const opt = new SGD(ps, o);
      const h = { lr: o.lr!, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, weightDecay: o.weightDecay ?? 0, nesterov: o.nesterov ?? false };
      const bufs: (Float64Array | null)[] = SHAPES.map(() => null);
      for (let t = 0; t < 4; t++) {
        const gs = grads(SHAPES, t);
        // parameter 1 has no gradient at step 1: its buffer starts at step 2
        setGrads(ps, gs.map((g, k) => (k === 1 && t === 0 ? null : g)));
        if (t === 3) opt.lr = h.lr = h.lr * 2;
        opt.step();
        gs.forEach((g, k) => {
          if (!(k === 1 && t === 0)) bufs[k] = sgdStepRef(ref[k], g, bufs[k], h);
        });
        await expectParams(ps, ref, `step ${t + 1}`);
      }
      opt.dispose();
      free(ps);
    });
  }

  it('rejects nesterov without momentum', () => {
    expect(() => new SGD([], { nesterov: true })).toThrow(/Nesterov/);
  });
});

// Both kernel configurations (each adapter picks one): per-invocation partials of the sum
// of squares and several elements an invocation; a workgroup tree and one vec4 an
// invocation (sumPer 4 spreads the 40k-element case over dozens of workgroups).
const CONFIGS: Partial<EngineConfig['optim']>[] = [{ sumPer: 32, tree: false, updatePer: 16 }, { sumPer: 4, tree: true, updatePer: 4 }];
for (const cfg of CONFIGS) describe.skipIf(!hasGpu)(`clipGradNorm and Adam (${JSON.stringify(cfg)})`, () => {
  let restore = () => {};
  beforeAll(() => void (restore = overrideConfig({ optim: { ...config().optim, ...cfg } })));
  afterAll(() => restore());
  const CLIP_SHAPES = [[7], [3, 5], [4, 4], [2, 33], [1], [700]];

  it('Adam over several workgroups (5003 and 4100 elements)', async () => {
    await runAdam({ weightDecay: 0.01 }, [1e-2, 2e-2, 1e-2], [[5003], [41, 100]], 'several workgroups');
  });

  it('returns the pre-clip norm and scales the gradients above maxNorm', async () => {
    const { ps } = makeParams(CLIP_SHAPES, 1);
    const gs = grads(CLIP_SHAPES, 3, 2);
    const want = clipRef(gs, 1.5);
    expect(want.norm).toBeGreaterThan(1.5);
    setGrads(ps, gs);
    const norm = tidy(() => clipGradNorm(ps, 1.5));
    expectClose([await norm.item()], [want.norm], 0, 1e-5, 'norm');
    norm.dispose();
    for (let k = 0; k < ps.length; k++) expectClose(await ps[k].grad!.read(), want.scaled[k], 1e-6, 1e-5, `grad ${k}`);
    free(ps);
  });

  it('leaves gradients below maxNorm, or with clipping off (0, Infinity), untouched', async () => {
    const { ps } = makeParams(CLIP_SHAPES, 2);
    const gs = grads(CLIP_SHAPES, 4);
    const { norm: want } = clipRef(gs, 1);
    for (const maxNorm of [want * 1.01, 0, Infinity, want / 10]) {
      if (maxNorm === want / 10) {
        // off vs on, same gradients: only this one changes them
        const off = gradNormScale(ps, 0);
        expect(await off.scale.item()).toBe(1);
        off.norm.dispose(); off.scale.dispose();
        continue;
      }
      setGrads(ps, gs);
      const norm = clipGradNorm(ps, maxNorm);
      expectClose([await norm.item()], [want], 0, 1e-5, `norm (maxNorm ${maxNorm})`);
      norm.dispose();
      for (let k = 0; k < ps.length; k++) expect(await ps[k].grad!.read()).toEqual(Float32Array.from(gs[k]));
    }
    free(ps);
  });

  it('skips null gradients and returns 0 when there are none', async () => {
    const { ps } = makeParams([[5], [4]], 3);
    const gs = grads([[5], [4]], 5, 3);
    setGrads(ps, [gs[0], null]);
    const want = clipRef([gs[0]], 0.5);
    const norm = clipGradNorm(ps, 0.5);
    expectClose([await norm.item()], [want.norm], 0, 1e-5, 'norm');
    expectClose(await ps[0].grad!.read(), want.scaled[0], 1e-6, 1e-5, 'grad');
    norm.dispose();
    setGrads(ps, [null, null]);
    const zero = clipGradNorm(ps, 0.5);
    expect(await zero.item()).toBe(0);
    zero.dispose();
    free(ps);
  });

  it('non-finite norms: inf turns finite grads to 0 and inf ones to nan; nan makes all nan', async () => {
    const { ps } = makeParams([[3], [2]], 4);
    setGrads(ps, [Float64Array.from([1, Infinity, -2]), Float64Array.from([0.5, 3])]);
    let norm = clipGradNorm(ps, 1);
    expect(await norm.item()).toBe(Infinity);
    norm.dispose();
    expect(Array.from(await ps[0].grad!.read())).toEqual([0, NaN, -0]);
    expect(Array.from(await ps[1].grad!.read())).toEqual([0, 0]);
    setGrads(ps, [Float64Array.from([1, NaN, -2]), Float64Array.from([0.5, 3])]);
    norm = clipGradNorm(ps, 1);
    expect(await norm.item()).toBeNaN();
    norm.dispose();
    for (const p of ps) for (const x of await p.grad!.read()) expect(x).toBeNaN();
    free(ps);
  });

  it('a large norm over many workgroups (40k elements)', async () => {
    const shapes = [[200, 201], [33]];
    const { ps } = makeParams(shapes, 9);
    const gs = grads(shapes, 6);
    setGrads(ps, gs);
    const want = clipRef(gs, 10);
    const norm = clipGradNorm(ps, 10);
    expectClose([await norm.item()], [want.norm], 0, 1e-5, 'norm');
    norm.dispose();
    for (let k = 0; k < ps.length; k++) expectClose(await ps[k].grad!.read(), want.scaled[k], 1e-6, 1e-5, `grad ${k}`);
    free(ps);
  });

  for (const fused of [false, true]) {
    it(`clip then Adam over 4 steps (${fused ? 'scale read by the Adam kernel' : 'grads scaled in place'}), memory flat`, async () => {
      const { ps, ref } = makeParams(SHAPES, 71);
      const opt = new Adam(ps, { lr: 0.02, weightDecay: 0.01 });
      const st = SHAPES.map((_, k) => adamRefState(ref[k].length));
      let bytes = 0, tensors = 0;
      for (let t = 0; t < 4; t++) {
        const gs = grads(SHAPES, t, t % 2 ? 0.1 : 3); // above and below the max norm in turn
        setGrads(ps, gs);
        const norm = tidy(() => {
          if (!fused) {
            const n = clipGradNorm(ps, 2);
            opt.step();
            return n;
          }
          const { norm: n, scale } = gradNormScale(ps, 2);
          opt.step({ gradScale: scale });
          return n;
        });
        const want = clipRef(gs, 2);
        want.scaled.forEach((g, k) => adamStepRef(ref[k], g, st[k], adamHyper({ weightDecay: 0.01 }, 0.02)));
        expectClose([await norm.item()], [want.norm], 0, 1e-5, `norm ${t}`);
        norm.dispose();
        await expectParams(ps, ref, `step ${t + 1}`);
        opt.zeroGrad();
        if (t === 1) [bytes, tensors] = [liveBytes(), liveTensors()];
      }
      expect([liveBytes(), liveTensors()]).toEqual([bytes, tensors]);
      opt.dispose();
      free(ps);
    });
  }
});

// 60 parameters of odd sizes (most not a multiple of 4; 5003 spans several blocks and,
// with a chunk of 1024, several binding windows), as a model has them.
const MANY = Array.from({ length: 60 }, (_, k) => (k === 7 ? [5003] : k % 5 === 0 ? [3, 7 + k] : [1 + ((k * 37) % 97)]));

for (const cfg of CONFIGS) describe.skipIf(!hasGpu)(`all parameters in a few dispatches (${JSON.stringify(cfg)})`, () => {
  let restore = () => {};
  beforeAll(() => void (restore = overrideConfig({ optim: { ...config().optim, ...cfg } })));
  afterAll(() => restore());

  for (const chunkElems of [undefined, 1024]) {
    it(`clip (fused) + Adam with weight decay over 60 tensors equals the per-tensor reference${chunkElems ? ' (chunk of 1024)' : ''}`, () => withConfig(chunkElems ? { maxBindingBytes: 4 * chunkElems } : {}, async () => {
      const { ps, ref } = makeParams(MANY, 101);
      const opt = new Adam(ps, { lr: 0.02, weightDecay: 0.05 });
      const st = MANY.map((_, k) => adamRefState(ref[k].length));
      for (let t = 0; t < 3; t++) {
        const gs = grads(MANY, t, t === 1 ? 0.01 : 2); // clipped, not clipped, clipped
        setGrads(ps, gs);
        const norm = tidy(() => {
          const { norm: n, scale } = gradNormScale(ps, 3);
          opt.step({ gradScale: scale });
          return n;
        });
        const want = clipRef(gs, 3);
        want.scaled.forEach((g, k) => adamStepRef(ref[k], g, st[k], adamHyper({ weightDecay: 0.05 }, 0.02)));
        expectClose([await norm.item()], [want.norm], 0, 1e-5, `norm ${t}`);
        norm.dispose();
        await expectParams(ps, ref, `step ${t + 1}`);
        opt.zeroGrad();
      }
      const sd = await opt.stateDict();
      for (const k of [0, 7, 59]) {
        expect(sd.state[k].step).toBe(3);
        expectClose(sd.state[k].exp_avg as Float32Array, st[k].m, 1e-7, 1e-5, `exp_avg ${k}`);
      }
      opt.dispose();
      free(ps);
    }));
  }

  it('clip (in place) + SGD with nesterov momentum and weight decay; parameters without a gradient are skipped (chunk of 1024)', () => withConfig({ maxBindingBytes: 4096 }, async () => {
    const { ps, ref } = makeParams(MANY, 103);
    const h = { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true };
    const opt = new SGD(ps, h);
    const bufs: (Float64Array | null)[] = MANY.map(() => null);
    for (let t = 0; t < 3; t++) {
      // every third parameter has no gradient at the first step, parameter 7 none at the second
      const skip = (k: number) => (t === 0 && k % 3 === 0) || (t === 1 && k === 7);
      const gs = grads(MANY, t, 2).map((g, k) => (skip(k) ? null : g));
      setGrads(ps, gs);
      const norm = clipGradNorm(ps, 4);
      opt.step();
      const want = clipRef(gs.filter((g) => g !== null) as Float64Array[], 4);
      let j = 0;
      gs.forEach((g, k) => {
        if (g) bufs[k] = sgdStepRef(ref[k], want.scaled[j++], bufs[k], h);
      });
      expectClose([await norm.item()], [want.norm], 0, 1e-5, `norm ${t}`);
      norm.dispose();
      await expectParams(ps, ref, `step ${t + 1}`);
      opt.zeroGrad();
    }
    opt.dispose();
    free(ps);
  }));
});

describe.skipIf(!hasGpu)('dispatches of an optimiser step', () => {
  const count = (f: () => void) => {
    const d0 = stats().dispatches;
    tidy(f);
    return stats().dispatches - d0;
  };

  it('clipping and the update of 60 parameters take at most 8 dispatches (Adam, SGD; fused or in place)', async () => {
    const { ps } = makeParams(MANY, 107);
    const adam = new Adam(ps, { weightDecay: 0.01 });
    const sgd = new SGD(ps, { momentum: 0.9 });
    for (let t = 0; t < 2; t++) {
      setGrads(ps, grads(MANY, t));
      const steps = [
        count(() => adam.step({ gradScale: gradNormScale(ps, 1).scale })),
        count(() => (clipGradNorm(ps, 1), adam.step())),
        count(() => sgd.step({ gradScale: gradNormScale(ps, 1).scale })),
      ];
      for (const n of steps) expect(n).toBeLessThanOrEqual(8);
      expect(steps[0]).toBe(3); // a sum of squares, the final reduction, one update (one window)
    }
    adam.dispose();
    sgd.dispose();
    free(ps);
  });

  it('bumps the version of the updated parameters only', () => {
    const { ps } = makeParams([[5], [6]], 109);
    const opt = new Adam(ps);
    setGrads(ps, [grads([[5]], 0)[0], null]);
    const before = ps.map((p) => p.version);
    opt.step();
    expect(ps[0].version).toBeGreaterThan(before[0]);
    const v1 = ps[1].version;
    opt.step();
    expect(ps[1].version).toBe(v1);
    opt.dispose();
    free(ps);
  });
});

describe.skipIf(!hasGpu)('chunked bindings (chunk of 64 elements)', () => {
  // sizes 203 (chunks 64,64,64,11: the last one scalar), 256 (four vec4 chunks), 64 and 5
  const BIG = [[7, 29], [256], [64], [5]];
  let restore = () => {};
  beforeAll(() => void (restore = overrideConfig({ maxBindingBytes: 4 * 64 })));
  afterAll(() => restore());

  it('Adam and the clip norm over chunks match the reference', async () => {
    const { ps, ref } = makeParams(BIG, 13);
    const opt = new Adam(ps, { lr: 0.01, weightDecay: 0.1 });
    const st = BIG.map((_, k) => adamRefState(ref[k].length));
    for (let t = 0; t < 3; t++) {
      const gs = grads(BIG, t, 2);
      setGrads(ps, gs);
      const norm = clipGradNorm(ps, 5);
      const want = clipRef(gs, 5);
      expectClose([await norm.item()], [want.norm], 0, 1e-5, 'norm');
      norm.dispose();
      for (let k = 0; k < ps.length; k++) expectClose(await ps[k].grad!.read(), want.scaled[k], 1e-6, 1e-5, `clipped grad ${k}`);
      opt.step();
      want.scaled.forEach((g, k) => adamStepRef(ref[k], g, st[k], adamHyper({ weightDecay: 0.1 }, 0.01)));
      await expectParams(ps, ref, `step ${t + 1}`);
    }
    opt.dispose();
    free(ps);
  });

  it('SGD with nesterov momentum over chunks matches the reference', async () => {
    const { ps, ref } = makeParams(BIG, 17);
    const h = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true };
    const opt = new SGD(ps, h);
    const bufs: (Float64Array | null)[] = BIG.map(() => null);
    for (let t = 0; t < 3; t++) {
      const gs = grads(BIG, t);
      setGrads(ps, gs);
      opt.step();
      gs.forEach((g, k) => (bufs[k] = sgdStepRef(ref[k], g, bufs[k], h)));
      await expectParams(ps, ref, `step ${t + 1}`);
    }
    opt.dispose();
    free(ps);
  });

  it('rejects a chunk below 64 elements', () => {
    const { ps } = makeParams([[5]], 1);
    setGrads(ps, grads([[5]], 0));
    const restoreSmall = overrideConfig({ maxBindingBytes: 4 * 32 });
    try {
      expect(() => clipGradNorm(ps, 1)).toThrow(/optimiser: 64 items need 256 bytes in one binding, above this adapter's 128/);
    } finally {
      restoreSmall();
    }
    free(ps);
  });
});

describe.skipIf(!hasGpu)('state dicts', () => {
  async function roundTrip(make: (ps: Tensor[]) => Adam | SGD): Promise<void> {
    const a = makeParams(SHAPES, 23), b = makeParams(SHAPES, 23);
    const optA = make(a.ps);
    for (let t = 0; t < 2; t++) {
      setGrads(a.ps, grads(SHAPES, t));
      optA.step();
    }
    // b starts from a's parameters and a's saved state in a fresh optimiser
    for (let k = 0; k < SHAPES.length; k++) b.ps[k].dispose();
    const pa = await Promise.all(a.ps.map((p) => p.read()));
    const psB = pa.map((d, k) => Tensor.from(d, SHAPES[k]).keep());
    const optB = make(psB);
    optA.lr = 0.123; // the saved lr must win over b's
    const sd = await optA.stateDict();
    optA.lr = sd.param_groups[0].lr as number;
    optB.loadStateDict(sd);
    expect(optB.lr).toBe(0.123);
    optA.lr = optB.lr = 0.01;
    for (let t = 2; t < 4; t++) {
      const gs = grads(SHAPES, t);
      setGrads(a.ps, gs);
      setGrads(psB, gs);
      optA.step();
      optB.step();
    }
    for (let k = 0; k < SHAPES.length; k++) expect(await psB[k].read()).toEqual(await a.ps[k].read());
    optA.dispose();
    optB.dispose();
    free(a.ps);
    free(psB);
  }

  it('Adam: save, load into a fresh optimiser, identical next steps', async () => {
    await roundTrip((ps) => new Adam(ps, { lr: 0.02, weightDecay: 0.01 }));
  });

  it('SGD momentum: save, load into a fresh optimiser, identical next steps', async () => {
    await roundTrip((ps) => new SGD(ps, { lr: 0.02, momentum: 0.9, nesterov: true }));
  });

  it('rejects a state dict of the wrong shape', async () => {
    const { ps } = makeParams([[5]], 1);
    const opt = new Adam(ps);
    const sd = { state: { 0: { step: 1, exp_avg: new Float32Array(4), exp_avg_sq: new Float32Array(5) } }, param_groups: [{ lr: 1, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, params: [0] }] };
    const before = liveTensors();
    expect(() => opt.loadStateDict(sd)).toThrow(/exp_avg/);
    expect(liveTensors()).toBe(before);
    const sgd = new SGD(ps);
    expect(() => sgd.loadStateDict({ ...sd, state: {} })).toThrow(/momentum/);
    sgd.dispose();
    sd.state[0].exp_avg = new Float32Array(5);
    sd.param_groups[0].betas = [0.9, 1.5];
    expect(() => opt.loadStateDict(sd)).toThrow(/beta/);
    expect(opt.beta2).toBe(0.999);
    expect(liveTensors()).toBe(before);
    free(ps);
  });
});

describe('ReduceLROnPlateau', () => {
  it('min mode, patience 2: reduces after 3 bad epochs, resets, respects min_lr', () => {
    const opt = { lr: 1 };
    const s = new ReduceLROnPlateau(opt, { patience: 2, minLr: 0.005 });
    // best 10; 10 * (1 - 1e-4) = 9.999: 9.9995 is not an improvement. Bad epochs 2-4 reduce
    // at 4; 9 is the new best at 5; bad 6-8 reduce at 8; bad 9-11 reduce at 11 to min_lr.
    const metrics = [10, 9.9995, 10, 11, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
    const lrs = metrics.map((m) => (s.step(m), opt.lr));
    expect(lrs).toEqual([1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.005, 0.005, 0.005, 0.005, 0.005]);
    expect(s.lastLr).toBe(0.005);
  });

  it('defaults (patience 10): the 11th bad epoch reduces by 10x', () => {
    const opt = { lr: 0.1 };
    const s = new ReduceLROnPlateau(opt);
    s.step(1);
    for (let i = 0; i < 10; i++) s.step(1);
    expect(opt.lr).toBe(0.1);
    s.step(1);
    expect(opt.lr).toBeCloseTo(0.01, 15);
    expect(s.numBadEpochs).toBe(0);
  });

  it('cooldown ignores bad epochs; max mode with an absolute threshold', () => {
    const opt = { lr: 1 };
    const s = new ReduceLROnPlateau(opt, { patience: 0, cooldown: 2, factor: 0.5 });
    const lrs = [5, 5, 5, 5, 5, 5, 5].map((m) => (s.step(m), opt.lr));
    // epoch 2 bad -> 0.5, cooldown 2 epochs (3, 4), epoch 5 bad -> 0.25, 6-7 cooldown
    expect(lrs).toEqual([1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
    const o2 = { lr: 1 };
    const m = new ReduceLROnPlateau(o2, { mode: 'max', thresholdMode: 'abs', threshold: 0.1, patience: 1 });
    const l2 = [1, 1.05, 1.2, 1.25, 1.29].map((x) => (m.step(x), o2.lr));
    // 1.05 is not > 1 + 0.1 (bad 1); 1.2 is better (best 1.2); 1.25 bad 1; 1.29 bad 2 -> reduce
    expect(l2).toEqual([1, 1, 1, 1, 0.1]);
  });

  it('skips reductions smaller than eps; a NaN metric counts as bad', () => {
    const opt = { lr: 1e-8 };
    const s = new ReduceLROnPlateau(opt, { patience: 0 });
    s.step(1);
    s.step(NaN);
    expect(opt.lr).toBe(1e-8); // 1e-8 - 1e-9 < eps
  });

  it('state dict round trip continues identically', () => {
    const a = { lr: 1 }, b = { lr: 1 };
    const sa = new ReduceLROnPlateau(a, { patience: 1, cooldown: 1 });
    for (const x of [3, 2, 2]) sa.step(x);
    const sb = new ReduceLROnPlateau(b);
    sb.loadStateDict(JSON.parse(JSON.stringify(sa.stateDict(), (_, v) => (v === Infinity ? 'Infinity' : v))));
    b.lr = a.lr;
    for (const x of [2, 2, 2, 1, 1, 1]) {
      sa.step(x);
      sb.step(x);
      expect(b.lr).toBe(a.lr);
    }
    expect(sb.stateDict()).toEqual(sa.stateDict());
  });
});
