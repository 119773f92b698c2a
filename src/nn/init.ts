// PyTorch's default initialisations, drawn from a seeded generator on the host.

import { Rng } from '../engine/rng.js';
import { Tensor, numel } from '../engine/tensor.js';

let rng = new Rng(0);
type Mode = 'draw' | 'shapes' | 'allocate';
let mode: Mode = 'draw';

function withMode<T>(m: Mode, build: () => T): T {
  const before = mode;
  mode = m;
  try {
    return build();
  } finally {
    mode = before;
  }
}

/**
 * Runs `build` with every initialisation below giving a tensor of the right shape that
 * holds no data and no GPU buffer: enough to count a model's parameters (`models`, the
 * memory estimate) without drawing its weights or needing a device. Such a model must
 * not run.
 */
export function shapesOnly<T>(build: () => T): T {
  return withMode('shapes', build);
}

/**
 * Runs `build` with every initialisation below giving an allocated tensor whose values
 * are neither drawn nor set: for a model that a strict loadStateDict fills next (eval,
 * predict, --resume, --init), which then skips drawing and uploading weights it would
 * overwrite (seconds for ViT-B/16 or VGG16). Draws nothing from the seeded generator.
 */
export function allocateOnly<T>(build: () => T): T {
  return withMode('allocate', build);
}

function make(shape: readonly number[], data: () => Float32Array): Tensor {
  if (mode === 'draw') return Tensor.from(data(), shape);
  if (mode === 'allocate') return Tensor.empty(shape);
  const t = Object.create(Tensor.prototype) as Tensor;
  return Object.assign(t, { shape: Object.freeze([...shape]), size: numel(shape), dtype: 'f32', requiresGrad: false, grad: null, node: null, kept: false, storage: null });
}

/** Seeds every initialisation that follows. */
export function manualSeed(seed: number): void {
  rng = new Rng(seed);
}

export function uniformData(n: number, bound: number, r: Rng = rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < a.length; i++) a[i] = (2 * r.next() - 1) * bound;
  return a;
}

export function uniform(shape: readonly number[], bound: number, r: Rng = rng): Tensor {
  return make(shape, () => uniformData(numel(shape), bound, r));
}

/** NOTE: kaiming_uniform_(a=sqrt(5)) as nn.Linear/nn.Conv2d use: bound = 1/sqrt(fan_in); their bias uses the same bound. */
export function kaimingUniform(shape: readonly number[], fanIn: number, r: Rng = rng): Tensor {
  return uniform(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0, r);
}

/** Normal(mean, std) truncated to [lo, hi] (absolute bounds, as torch.nn.init.trunc_normal_), by rejection. */
export function truncNormalData(n: number, std: number, lo = -2, hi = 2, r: Rng = rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < a.length; ) {
    // Box-Muller: two independent normals from one pair of uniforms
    const u = 1 - r.next(), v = 2 * Math.PI * r.next();
    const m = Math.sqrt(-2 * Math.log(u)) * std;
    const z0 = m * Math.cos(v), z1 = m * Math.sin(v);
    if (z0 >= lo && z0 <= hi) a[i++] = z0;
    if (i < a.length && z1 >= lo && z1 <= hi) a[i++] = z1;
  }
  return a;
}

export function truncNormal(shape: readonly number[], std: number, lo = -2, hi = 2, r: Rng = rng): Tensor {
  return make(shape, () => truncNormalData(numel(shape), std, lo, hi, r));
}

/** How a Linear or Conv2d draws its weight, then its bias, from their shapes and fan-in. */
export interface LayerInit {
  weight(shape: readonly number[], fanIn: number): Tensor;
  bias(shape: readonly number[], fanIn: number): Tensor;
}

/** PyTorch's default for nn.Linear and nn.Conv2d (kaimingUniform, the bias in the same bound). */
export const DEFAULT_INIT: LayerInit = { weight: (s, fanIn) => kaimingUniform(s, fanIn), bias: (s, fanIn) => kaimingUniform(s, fanIn) };

export function constant(shape: readonly number[], value: number): Tensor {
  return make(shape, () => new Float32Array(numel(shape)).fill(value));
}
