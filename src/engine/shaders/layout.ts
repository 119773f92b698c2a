// Layout kernels: one strided copy serves permute, slice, concat (strided writes),
// broadcast expansion and padding; and moves of many tensors into views of one buffer
// (gradients into their arena slots). Bits are copied, so f32 and i32 alike.

import { config, splitToFit } from '../config.js';
import { dispatch, WG_INDEX, type Binding } from '../runtime.js';
import { bindElems, Tensor, type Shape } from '../tensor.js';
import { dims8, forEach, groupsFor, perInvocation, STRIDED } from './elementwise.js';
import { range } from './codegen.js';


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

const MOVE_SOURCES = 7; // with the destination, the 8 storage buffers any adapter allows a kernel

// D[dst_k + j] = S_k[j] for each source k < 7 and each of its vec4s j; i runs over them all in order
const MOVE = /* wgsl */ `${WG_INDEX}
struct P { n: u32, per: u32, pad0: u32, pad1: u32, end: array<vec4<u32>, 2>, dst: array<vec4<u32>, 2> }
${range(MOVE_SOURCES).map((k) => `@group(0) @binding(${k}) var<storage, read> S${k}: array<vec4<u32>>;`).join('\n')}
@group(0) @binding(${MOVE_SOURCES}) var<storage, read_write> D: array<vec4<u32>>;
@group(0) @binding(${MOVE_SOURCES + 1}) var<uniform> p: P;
// (end: each source's last vec4 + 1, counted over all; dst: where each starts in D, in vec4s)
${forEach(`var k = 0u;
    while (k < ${MOVE_SOURCES - 1}u && i >= p.end[k >> 2u][k & 3u]) { k++; }
    let j = i - select(0u, p.end[(k - 1u) >> 2u][(k - 1u) & 3u], k > 0u);
    let o = p.dst[k >> 2u][k & 3u] + j;
    switch k {
      ${range(MOVE_SOURCES - 1).map((k) => `case ${k}u: { D[o] = S${k}[j]; }`).join('\n      ')}
      default: { D[o] = S${MOVE_SOURCES - 1}[j]; }
    }`)}`;

/**
 * t.moveInto(dst) for each pair (dst: a view, such as an arena slot), copying up to seven
 * tensors into one destination buffer in one dispatch where the adapter's table says so
 * (config().moveKernel: on a GPU a copy command costs the host more than a dispatch, and
 * ends the compute pass). Destinations must leave room up to their next whole vec4 (arena
 * slots do: they start at multiples of 64 elements).
 */
export function moveMany(pairs: readonly (readonly [Tensor, Tensor])[]): void {
  const { maxBindingBytes, offsetAlign, moveKernel } = config();
  if (!moveKernel) {
    for (const [src, dst] of pairs) src.moveInto(dst);
    return;
  }
  const vec4s = (t: Tensor) => Math.ceil(t.size / 4);
  const batches = new Map<GPUBuffer, (readonly [Tensor, Tensor])[]>();
  for (const pair of pairs) {
    const [src, dst] = pair;
    // a source bound whole from an aligned offset (its buffer has its last whole vec4), a destination 16-byte aligned
    const fits = src.size > 0 && src.buffer !== dst.buffer && src.byteOffset % offsetAlign === 0 && vec4s(src) * 16 <= maxBindingBytes && dst.byteOffset % 16 === 0 && dst.byteOffset + vec4s(dst) * 16 <= maxBindingBytes;
    if (!fits || src.sameMemory(dst)) {
      src.moveInto(dst);
      continue;
    }
    let batch = batches.get(dst.buffer);
    if (!batch) batches.set(dst.buffer, (batch = []));
    batch.push(pair);
  }
  for (const [buffer, batch] of batches) {
    for (let b = 0; b < batch.length; b += MOVE_SOURCES) {
      const part = batch.slice(b, b + MOVE_SOURCES);
      if (part.length === 1) {
        part[0][0].moveInto(part[0][1]); // one copy costs less than a dispatch
        continue;
      }
      const end: number[] = [], dst: number[] = [];
      let n = 0, reach = 0;
      for (const [src, d] of part) {
        n += vec4s(src);
        end.push(n);
        dst.push(d.byteOffset / 16);
        reach = Math.max(reach, d.byteOffset + vec4s(d) * 16);
      }
      while (end.length < 8) (end.push(n), dst.push(0));
      const sources = range(MOVE_SOURCES).map((k) => {
        const src = part[Math.min(k, part.length - 1)][0];
        return { buffer: src.buffer, byteOffset: src.byteOffset, byteLength: vec4s(src) * 16 };
      });
      dispatch(MOVE, [...sources, { buffer, byteOffset: 0, byteLength: reach }], [n, perInvocation(), 0, 0, ...end, ...dst], groupsFor(n));
      for (const [src, d] of part) src.moveInto(d, true);
    }
  }
}
