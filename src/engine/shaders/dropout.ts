// Dropout with a counter-based RNG on the GPU: element i of a call keyed (k0, k1) is kept
// when hash(i; k0, k1) >= p * 2^32. No mask is stored: the backward regenerates it from
// the same key, so one kernel serves both directions (dx = dropout(dy) with the same key).

import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor } from '../tensor.js';

const WG = 256;
const PER = 16; // elements per invocation: on lavapipe one element each is ~4x slower

// NOTE: the hash is Wellons' lowbias32 (a bijection of u32 with low bias), applied twice
// around the key: for a fixed key, distinct elements never share an input to the mixer.
const DROPOUT = /* wgsl */ `${WG_INDEX}
struct P { n: u32, thr: u32, k0: u32, k1: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
fn lowbias32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}
// Y[i] = X[i] * scale where lowbias32(lowbias32(i ^ k0) + k1) >= thr, else 0;
// each invocation takes ${PER} elements ${WG} apart
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let start = wgIndex(wid, nwg) * ${WG * PER}u + li;
  for (var e = 0u; e < ${PER}u; e++) {
    let i = start + e * ${WG}u;
    if (i >= p.n) { return; }
    let h = lowbias32(lowbias32(i ^ p.k0) + p.k1);
    Y[i] = select(0.0, X[i] * p.scale, h >= p.thr);
  }
}`;

/** The u32 threshold below which a hash drops its element: round(p * 2^32), for 0 <= p < 1. */
export function dropThreshold(p: number): number {
  return Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32));
}

/**
 * x with each element zeroed with probability p and the others multiplied by 1/(1-p),
 * the mask drawn from the key (k0, k1). Needs 0 <= p < 1.
 */
export function dropoutKernel(x: Tensor, p: number, k0: number, k1: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout kernel: p must be in [0, 1), got ${p}`);
  if (x.dtype !== 'f32') throw new Error(`dropout of an ${x.dtype} tensor`);
  const y = Tensor.empty(x.shape);
  // NOTE: kept values are x * fround(1 / (1 - p)), as PyTorch (a product, not a division)
  dispatch(DROPOUT, [x, y], [x.size, dropThreshold(p), k0 >>> 0, k1 >>> 0, fbits(1 / (1 - p))], Math.ceil(x.size / (WG * PER)));
  return y;
}
