// PyTorch's default initialisations, drawn from a seeded generator on the host.

import { Rng } from '../engine/rng.js';
import { Tensor, numel } from '../engine/tensor.js';

let rng = new Rng(0);

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
  return Tensor.from(uniformData(numel(shape), bound, r), shape);
}

/** NOTE: kaiming_uniform_(a=sqrt(5)) as nn.Linear/nn.Conv2d use: bound = 1/sqrt(fan_in); their bias uses the same bound. */
export function kaimingUniform(shape: readonly number[], fanIn: number, r: Rng = rng): Tensor {
  return uniform(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0, r);
}

/** Normal(mean, std) truncated to [lo, hi] (absolute bounds, as torch.nn.init.trunc_normal_), by rejection. */
export function truncNormalData(n: number, std: number, lo = -2, hi = 2, r: Rng = rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < a.length; ) {
    // Box-Muller
    const u = 1 - r.next(), v = r.next();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * std;
    if (z >= lo && z <= hi) a[i++] = z;
  }
  return a;
}

export function truncNormal(shape: readonly number[], std: number, lo = -2, hi = 2, r: Rng = rng): Tensor {
  return Tensor.from(truncNormalData(numel(shape), std, lo, hi, r), shape);
}

export function constant(shape: readonly number[], value: number): Tensor {
  return Tensor.from(new Float32Array(numel(shape)).fill(value), shape);
}
