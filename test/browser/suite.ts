// The op and gradient checks that run inside Chromium (bundled by Vite in browser.test.ts):
// the same float64 references (test/ref/) and comparison (test/check.ts) as the Node suites,
// on the page's own WebGPU adapter, and the LeNet PyTorch fixture. `runSuites()` returns one
// result per case; a case fails with the worst element's message.
import { initDevice, gpu } from '../../src/engine/device.js';
import { Tensor } from '../../src/engine/tensor.js';
import * as op from '../../src/autograd/ops.js';
import { conv2d } from '../../src/autograd/conv2d.js';
import { maxPool2d, adaptiveAvgPool2d, type MaxPool2dOpts } from '../../src/autograd/pool.js';
import { crossEntropy, logSoftmax, softmax } from '../../src/autograd/softmax.js';
import { check } from '../check.js';
import { distinct, matmulRef, rand } from '../ref/cpu.js';
import { conv2dRef } from '../ref/conv2d.js';
import { adaptiveAvgPool2dRef, maxPool2dRef } from '../ref/pool.js';
import { crossEntropyRef, logSoftmaxRef, softmaxRef } from '../ref/softmax.js';
import { checkModelFixture } from '../models/fixture_check.js';
import type { MODELS } from '../../src/models/index.js';

export interface CaseResult { name: string; ok: boolean; error?: string; ms: number }


const pair = (v: number | readonly number[]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

function cases(fixture: (name: string) => Promise<Uint8Array>, fixtures: readonly (keyof typeof MODELS)[]): [string, () => Promise<void>][] {
  const out: [string, () => Promise<void>][] = [];
  // matmul: the subgroup kernel (N > 16), tails in M and K, both transposes, batched
  for (const [M, N, K] of [[3, 5, 7], [17, 33, 9], [2, 140, 3], [65, 130, 67]] as const) {
    for (const transA of [false, true]) for (const transB of [false, true]) {
      out.push([`matmul ${M}x${N}x${K} transA=${transA} transB=${transB}`, () => {
        const a = rand(transA ? [K, M] : [M, K], 70 + M), b = rand(transB ? [N, K] : [K, N], 80 + N);
        return check((xs) => op.matmul(xs[0], xs[1], { transA, transB }), ([x, y]) => matmulRef(x, y, transA, transB), [a, b], { atol: 1e-4, rtol: 1e-4, grad: M * N * K < 2000, what: 'matmul' });
      }]);
    }
  }
  out.push(['matmul batched', () => check((xs) => op.matmul(xs[0], xs[1]), ([x, y]) => matmulRef(x, y), [rand([3, 5, 6], 1), rand([3, 6, 7], 2)], { what: 'batched' })]);
  // conv2d: LeNet's, VGG's, ResNet's stem and shortcut, the patch embedding
  const CONV: [string, [number, number, number, number], number, [number, number], number, number][] = [
    ['5x5/1/0 (LeNet)', [2, 3, 9, 12], 5, [5, 5], 1, 0],
    ['3x3/1/1 (VGG)', [1, 3, 9, 11], 5, [3, 3], 1, 1],
    ['7x7/2/3 (ResNet stem)', [1, 3, 11, 12], 5, [7, 7], 2, 3],
    ['1x1/2/0 (ResNet shortcut)', [2, 3, 9, 8], 5, [1, 1], 2, 0],
    ['4x4/4/0 (patch embedding)', [2, 3, 8, 12], 5, [4, 4], 4, 0],
  ];
  for (const [name, x, o, k, stride, padding] of CONV) {
    out.push([`conv2d ${name}`, () => {
      const inputs = [rand(x, 1), rand([o, x[1], ...k], 2, -0.5, 0.5), rand([o], 3)];
      return check((xs) => conv2d(xs[0], xs[1], xs[2], { stride, padding }), (xs) => conv2dRef(xs[0], xs[1], xs[2], { stride, padding }), inputs, { what: name });
    }]);
  }
  // pooling
  const POOL: [number[], MaxPool2dOpts][] = [[[1, 1, 4, 4], { kernel: 2 }], [[2, 3, 7, 9], { kernel: 3, stride: 2, padding: 1 }], [[2, 1, 7, 8], { kernel: [2, 3], stride: [1, 2], padding: [1, 0] }]];
  for (const [k, [shape, o]] of POOL.entries()) {
    const ref = { kernel: pair(o.kernel), stride: pair(o.stride ?? o.kernel), padding: pair(o.padding ?? 0) };
    out.push([`max_pool2d [${shape}] ${JSON.stringify(o)}`, () => check((xs) => maxPool2d(xs[0], o), ([x]) => maxPool2dRef(x, ref).y, [distinct(shape, 3 + k)], { what: 'maxpool' })]);
  }
  out.push(['adaptive_avg_pool2d 7x9 -> 1x1 and 3x4', async () => {
    await check((xs) => adaptiveAvgPool2d(xs[0], 1), ([x]) => adaptiveAvgPool2dRef(x, [1, 1]), [rand([2, 3, 7, 9], 5)], { what: 'avgpool 1' });
    await check((xs) => adaptiveAvgPool2d(xs[0], [3, 4]), ([x]) => adaptiveAvgPool2dRef(x, [3, 4]), [rand([1, 2, 7, 9], 6)], { what: 'avgpool 3x4' });
  }]);
  // softmax, log_softmax, cross-entropy
  for (const shape of [[4, 2], [5, 7], [2, 3, 33], [3, 1000]]) {
    out.push([`softmax and log_softmax [${shape}]`, async () => {
      await check((xs) => softmax(xs[0]), ([a]) => softmaxRef(a), [rand(shape, 10)], { what: 'softmax' });
      await check((xs) => logSoftmax(xs[0]), ([a]) => logSoftmaxRef(a), [rand(shape, 11)], { what: 'log_softmax' });
    }]);
  }
  for (const [N, K] of [[4, 3], [9, 10], [33, 2]]) {
    out.push([`cross_entropy ${N}x${K}, mean and sum`, async () => {
      const lab = Array.from({ length: N }, (_, i) => (i * 7) % K);
      for (const reduction of ['mean', 'sum'] as const) {
        const labT = Tensor.from(Int32Array.from(lab), [N], 'i32').keep();
        await check((xs) => crossEntropy(xs[0], labT, { reduction }), ([a]) => crossEntropyRef(a, lab, reduction), [rand([N, K], 50 + N)], { atol: 1e-5, rtol: 1e-5, what: `xent ${reduction}` });
        labT.dispose();
      }
    }]);
  }
  for (const name of fixtures) out.push([`${name} against its PyTorch fixture (logits, gradients, 3 Adam steps)`, async () => checkModelFixture(name, await fixture(name))]);
  return out;
}

/** Every op case, then the PyTorch fixtures of `fixtures` (default LeNet's). */
async function runSuites(fixtureUrl: string, fixtures: readonly (keyof typeof MODELS)[] = ['lenet'], only = ''): Promise<{ adapter: Record<string, unknown>; results: CaseResult[] }> {
  const g = await initDevice();
  const fetchFixture = async (name: string) => new Uint8Array(await (await fetch(`${fixtureUrl}/${name}.safetensors`)).arrayBuffer());
  const results: CaseResult[] = [];
  for (const [name, fn] of cases(fetchFixture, fixtures).filter(([n]) => n.includes(only))) {
    const t0 = performance.now();
    try {
      await fn();
      results.push({ name, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      results.push({ name, ok: false, error: (e as Error).message, ms: performance.now() - t0 });
    }
  }
  const info = gpu().info;
  const limits = Object.fromEntries(['maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage', 'minStorageBufferOffsetAlignment'].map((k) => [k, (g.limits as unknown as Record<string, number>)[k]]));
  return { adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description, software: g.isSoftware, subgroupSize: g.subgroupSize, features: [...g.features], limits }, results };
}

(globalThis as { runSuites?: typeof runSuites }).runSuites = runSuites;
