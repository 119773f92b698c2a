// Non-finite values (NaN, +-Inf) in many tensors at once, with one readback: each tensor
// (in chunks above the binding limit) is scanned by one dispatch that sets its flag when
// it holds one, and the flags are read together. Values are tested by their bits (all
// exponent bits set), which no fast-math compiler folds away.

import { splitToFit } from '../config.js';
import { dispatch, WG_INDEX } from '../runtime.js';
import { Tensor } from '../tensor.js';

const WG = 256;
const PER = 16; // elements an invocation scans

// flags[p.t] = 1 when X[off .. off + n) holds a value with every exponent bit set
const CODE = /* wgsl */ `${WG_INDEX}
@group(0) @binding(0) var<storage, read> X: array<u32>;
@group(0) @binding(1) var<storage, read_write> F: array<u32>;
struct P { n: u32, off: u32, t: u32, pad: u32 }
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let start = wgIndex(wid, nwg) * ${PER * WG}u + li;
  var bad = false;
  for (var k = 0u; k < ${PER}u; k++) {
    let i = start + k * ${WG}u;
    if (i < p.n && (X[p.off + i] & 0x7f800000u) == 0x7f800000u) { bad = true; }
  }
  if (bad) { F[p.t] = 1u; }
}`;

/** The index of the first f32 tensor holding a NaN or an infinity, or -1. */
export async function firstNonFinite(tensors: readonly Tensor[]): Promise<number> {
  if (!tensors.length) return -1;
  const flags = Tensor.empty([tensors.length], 'i32');
  try {
    flags.clear();
    tensors.forEach((t, i) => {
      if (t.dtype !== 'f32') return;
      // runs start at multiples of 64 elements (256 bytes) after the tensor's own aligned offset
      const runs = splitToFit('finite check', t.size, [4], { quantum: 64, aligned: false });
      for (const [first, n] of runs) dispatch(CODE, [runs.length === 1 ? t : t.bytes(first * 4, n * 4), flags], [n, 0, i, 0], Math.ceil(n / (PER * WG)));
    });
    return (await flags.read()).findIndex((f) => f !== 0);
  } finally {
    flags.dispose();
  }
}
