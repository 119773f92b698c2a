// Layout kernels: one strided copy serves permute, slice, concat (strided writes),
// broadcast expansion and padding; bits are copied, so f32 and i32 alike.

import { dispatch, WG_INDEX } from '../runtime.js';
import { Tensor, type Shape } from '../tensor.js';
import { dims8, forEach, groupsFor, perInvocation, STRIDED } from './elementwise.js';


const COPY = /* wgsl */ `${WG_INDEX}${STRIDED}
struct P { n: u32, per: u32, rank: u32, srcOff: u32, dstOff: u32, pad0: u32, pad1: u32, pad2: u32, shape: array<vec4<u32>, 2>, ss: array<vec4<u32>, 2>, ds: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> X: array<u32>;
@group(0) @binding(1) var<storage, read_write> Y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
// for each index c of shape: Y[dstOff + c.ds] = X[srcOff + c.ss]
${forEach(`var rem = i; var si = p.srcOff; var di = p.dstOff;
    for (var d = 0u; d < p.rank; d++) {
      let k = p.rank - 1u - d;
      let c = rem % dimOf(p.shape, k);
      rem = rem / dimOf(p.shape, k);
      si += c * dimOf(p.ss, k);
      di += c * dimOf(p.ds, k);
    }
    Y[di] = X[si];`)}`;

export function contiguousStrides(shape: Shape): number[] {
  const st = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/** dst[dstOff + c.dstStrides] = src[srcOff + c.srcStrides] for every index c of `shape`. */
export function stridedCopy(src: Tensor, dst: Tensor, shape: Shape, srcStrides: readonly number[], dstStrides: readonly number[], srcOff = 0, dstOff = 0): void {
  let n = 1;
  for (const d of shape) n *= d;
  if (n === 0) return;
  dispatch(COPY, [src, dst], [n, perInvocation(), shape.length, srcOff, dstOff, 0, 0, 0, ...dims8(shape), ...dims8(srcStrides), ...dims8(dstStrides)], groupsFor(n));
}

/** out[..., i, ...] = x[..., perm[i], ...] */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const st = contiguousStrides(x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const y = Tensor.empty(shape, x.dtype);
  stridedCopy(x, y, shape, perm.map((p) => st[p]), contiguousStrides(shape));
  return y;
}

/** x[start[0]:start[0]+size[0], ...] */
export function slice(x: Tensor, start: readonly number[], size: readonly number[]): Tensor {
  const st = contiguousStrides(x.shape);
  const y = Tensor.empty(size, x.dtype);
  stridedCopy(x, y, size, st, contiguousStrides(size), start.reduce((o, s, i) => o + s * st[i], 0));
  return y;
}

/** Writes x into y at offset `start` (the inverse of slice). */
export function sliceAssign(y: Tensor, x: Tensor, start: readonly number[]): void {
  const st = contiguousStrides(y.shape);
  stridedCopy(x, y, x.shape, contiguousStrides(x.shape), st, 0, start.reduce((o, s, i) => o + s * st[i], 0));
}

/** Repeats x along its broadcast dims to `shape`. */
export function expand(x: Tensor, shape: Shape, strides: readonly number[]): Tensor {
  const y = Tensor.empty(shape, x.dtype);
  stridedCopy(x, y, shape, strides, contiguousStrides(shape));
  return y;
}
