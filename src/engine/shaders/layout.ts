// Layout kernels: one strided copy serves permute, slice, concat (strided writes),
// broadcast expansion and padding; bits are copied, so f32 and i32 alike.

import { config, splitToFit } from '../config.js';
import { dispatch, WG_INDEX, type Binding } from '../runtime.js';
import { bindElems, Tensor, type Shape } from '../tensor.js';
import { dims8, forEach, groupsFor, perInvocation, STRIDED } from './elementwise.js';


const COPY = /* wgsl */ `${WG_INDEX}${STRIDED}
struct P { n: u32, per: u32, rank: u32, srcOff: u32, dstOff: u32, pad0: u32, pad1: u32, pad2: u32, shape: array<vec4<u32>, 2>, ss: array<vec4<u32>, 2>, ds: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> X: array<u32>;
@group(0) @binding(1) var<storage, read_write> Y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
// for each index c of shape: Y[dstOff + c.ds] = X[srcOff + c.ss]
// (the offsets are divided out once a run, then stepped along the innermost dim)
${forEach(`Y[p.dstOff + o.y] = X[p.srcOff + o.x];
    c++;
    if (c == len) {
      c = 0u;
      o = offsets(min(i + 1u, p.n - 1u), p.rank, p.shape, p.ss, p.ds);
    } else {
      o += step;
    }`, `let k = p.rank - 1u;
  let len = dimOf(p.shape, k);
  let step = vec2<u32>(dimOf(p.ss, k), dimOf(p.ds, k));
  var o = offsets(min(first, p.n - 1u), p.rank, p.shape, p.ss, p.ds);
  var c = first % len;`)}`;

export function contiguousStrides(shape: Shape): number[] {
  const st = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/**
 * The same copy over fewer dims: dims of size 1 dropped, and a dim merged into the next
 * inner one where both sides step over it as over one run (so a contiguous copy is 1-d).
 */
export function coalesce(shape: readonly number[], ss: readonly number[], ds: readonly number[]): { shape: number[]; ss: number[]; ds: number[] } {
  const out = { shape: [] as number[], ss: [] as number[], ds: [] as number[] };
  shape.forEach((d, i) => {
    if (d === 1) return;
    const j = out.shape.length - 1;
    if (j >= 0 && out.ss[j] === ss[i] * d && out.ds[j] === ds[i] * d) {
      out.shape[j] *= d;
      out.ss[j] = ss[i];
      out.ds[j] = ds[i];
    } else {
      out.shape.push(d);
      out.ss.push(ss[i]);
      out.ds.push(ds[i]);
    }
  });
  if (!out.shape.length) return { shape: [1], ss: [0], ds: [0] };
  return out;
}

/** Elements an index range of `shape` spans under `strides` (non-negative strides). */
const extent = (shape: readonly number[], strides: readonly number[]) => 1 + shape.reduce((s, d, i) => s + (d - 1) * strides[i], 0);

/**
 * dst[dstOff + c.dstStrides] = src[srcOff + c.srcStrides] for every index c of `shape`.
 * Tensors above one storage binding are copied in blocks of the first dim, each bound by
 * byte range (so the first dim should be the outermost on both sides, as a batch is).
 */
export function stridedCopy(src: Tensor, dst: Tensor, shape: Shape, srcStrides: readonly number[], dstStrides: readonly number[], srcOff = 0, dstOff = 0): void {
  let n = 1;
  for (const d of shape) n *= d;
  if (n === 0) return;
  const { maxBindingBytes, offsetAlign } = config();
  const copy = (x: Binding, y: Binding, sh: readonly number[], so: number, dOff: number, count: number) => {
    const c = coalesce(sh, srcStrides, dstStrides);
    dispatch(COPY, [x, y], [count, perInvocation(), c.shape.length, so, dOff, 0, 0, 0, ...dims8(c.shape), ...dims8(c.ss), ...dims8(c.ds)], groupsFor(count));
  };
  if (4 * Math.max(src.size, dst.size) <= maxBindingBytes) return copy(src, dst, shape, srcOff, dstOff, n);
  const rest = shape.slice(1);
  const inner = n / shape[0];
  // r rows span (r - 1) * stride + extent(rest) elements, plus the slack of an offset aligned down (bindElems)
  const tail = (st: readonly number[]) => 4 * (extent(rest, st.slice(1)) + offsetAlign / 4 - st[0]);
  const runs = splitToFit(`copy of [${shape}]`, shape[0], [4 * srcStrides[0], 4 * dstStrides[0]], { aligned: false, extra: [tail(srcStrides), tail(dstStrides)] });
  for (const [r0, rows] of runs) {
    const sub = [rows, ...rest];
    const s0 = srcOff + r0 * srcStrides[0], d0 = dstOff + r0 * dstStrides[0];
    const [x, so] = bindElems(src, s0, extent(sub, srcStrides));
    const [y, dOff] = bindElems(dst, d0, extent(sub, dstStrides));
    copy(x, y, sub, so, dOff, sub[0] * inner);
  }
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
