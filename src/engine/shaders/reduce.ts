// Reductions over the middle axis of an (O, R, I) view: sum (times a scale, for
// mean) and max with its first index. One invocation per output when there are many
// outputs; one workgroup per output, with a tree in workgroup memory, when there are few.

import { kernelCode } from './codegen.js';
import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor } from '../tensor.js';

export type ReduceOp = 'sum' | 'max';

const WG = 256;

/**
 * WGSL: the barrier tree that folds `width` values in workgroup memory (a power of two,
 * stored and past a barrier) into the first: for s = width/2, width/4, ..., 1, the lanes
 * with `lane` < s run `merge`, which folds element li + s into li. Every reduction over a
 * workgroup (softmax rows, norms, the gradient norm) is this loop.
 */
export const treeFold = (width: string, lane: string, merge: string): string => /* wgsl */ `for (var s = ${width} / 2u; s > 0u; s >>= 1u) {
    if (${lane} < s) { ${merge} }
    workgroupBarrier();
  }`;

function code(op: ReduceOp, wide: boolean): string {
  const isMax = op === 'max';
  // max starts from a real element: -inf cannot be written as a WGSL constant
  const init = (first: string) => (isMax ? `var arg = ${first}; var acc = X[base + arg * p.I];` : 'var acc = 0.0;');
  const step = isMax ? 'if (v > acc) { acc = v; arg = r; }' : 'acc += v;';
  const bindings = /* wgsl */ `
struct P { O: u32, R: u32, I: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${isMax ? '@group(0) @binding(2) var<storage, read_write> IDX: array<i32>;\n@group(0) @binding(3) var<uniform> p: P;' : '@group(0) @binding(2) var<uniform> p: P;'}`;
  const store = isMax ? 'Y[out] = acc; IDX[out] = i32(arg);' : 'Y[out] = acc * p.scale;';
  if (!wide) {
    return /* wgsl */ `${WG_INDEX}${bindings}
// Y[o, i] = reduce_r X[o, r, i]; one invocation per output
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let out = wgIndex(wid, nwg) * ${WG}u + li;
  if (out >= p.O * p.I) { return; }
  let o = out / p.I; let i = out % p.I;
  let base = o * p.R * p.I + i;
  ${init('0u')}
  for (var r = 0u; r < p.R; r++) { let v = X[base + r * p.I]; ${step} }
  ${store}
}`;
  }
  const merge = isMax
    ? 'if (sv[li + s] > sv[li] || (sv[li + s] == sv[li] && si[li + s] < si[li])) { sv[li] = sv[li + s]; si[li] = si[li + s]; }'
    : 'sv[li] += sv[li + s];';
  return /* wgsl */ `${WG_INDEX}${bindings}
var<workgroup> sv: array<f32, ${WG}>;
${isMax ? `var<workgroup> si: array<u32, ${WG}>;` : ''}
// Y[o, i] = reduce_r X[o, r, i]; one workgroup per output, strided over r, then a tree
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let out = wgIndex(wid, nwg);
  let o = out / p.I; let i = out % p.I;
  let base = o * p.R * p.I + i;
  ${init('min(li, p.R - 1u)')}
  for (var r = li; r < p.R; r += ${WG}u) { let v = X[base + r * p.I]; ${step} }
  sv[li] = acc;
  ${isMax ? 'si[li] = arg;' : ''}
  workgroupBarrier();
  ${treeFold(`${WG}u`, 'li', merge)}
  if (li == 0u && out < p.O * p.I) {
    acc = sv[0];
    ${isMax ? 'let arg = si[0];' : ''}
    ${store}
  }
}`;
}


/**
 * Reduces x viewed as (O, R, I) over R. Returns Y (O, I) as `outShape`, and for max
 * also the index of the first maximum (i32).
 */
export function reduce(op: ReduceOp, x: Tensor, O: number, R: number, I: number, outShape: readonly number[], scale = 1): { y: Tensor; idx: Tensor | null } {
  const wide = O * I < 64 && R >= 512;
  const c = kernelCode(['reduce', op, wide], () => code(op, wide));
  const y = Tensor.empty(outShape);
  const idx = op === 'max' ? Tensor.empty(outShape, 'i32') : null;
  const groups = wide ? O * I : Math.ceil((O * I) / WG);
  dispatch(c, idx ? [x, y, idx] : [x, y], [O, R, I, fbits(scale)], groups);
  return { y, idx };
}

const SCATTER = /* wgsl */ `${WG_INDEX}
struct P { O: u32, R: u32, I: u32 }
@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read> IDX: array<i32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
// DX[o, r, i] = (r == IDX[o, i]) ? DY[o, i] : 0
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let j = wgIndex(wid, nwg) * ${WG}u + li;
  if (j >= p.O * p.R * p.I) { return; }
  let i = j % p.I; let r = (j / p.I) % p.R; let o = j / (p.I * p.R);
  let out = o * p.I + i;
  DX[j] = select(0.0, DY[out], u32(IDX[out]) == r);
}`;

/** The gradient of a max over R: dy routed to the selected index. */
export function scatterAxis(dy: Tensor, idx: Tensor, O: number, R: number, I: number, shape: readonly number[]): Tensor {
  const dx = Tensor.empty(shape);
  dispatch(SCATTER, [dy, idx, dx], [O, R, I], Math.ceil((O * R * I) / WG));
  return dx;
}
