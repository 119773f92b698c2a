// Differentiable tensor ops: each is the forward kernel, then the backward closure.

import { Tensor, numel, sameShape, type Shape } from '../engine/tensor.js';
import { UNARY, binary, binaryBackward, broadcastStrides, unary, unaryBackward, type BinaryOp, type UnaryOp } from '../engine/shaders/elementwise.js';
import { expand as expandK, permute as permuteK, slice as sliceK, sliceAssign } from '../engine/shaders/layout.js';
import { reduce, scatterAxis } from '../engine/shaders/reduce.js';
import { matmul as matmulK, type MatmulOpts } from '../engine/shaders/matmul.js';
import { record } from './tape.js';

/** Sums a broadcast gradient back to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const n = g.ndim;
  const target = [...new Array(n - shape.length).fill(1), ...shape];
  let cur = g;
  let curShape = [...g.shape];
  // Reduce each run of broadcast axes with one kernel over its (O, R, I) view.
  for (let i = 0; i < n; ) {
    if (target[i] === 1 && curShape[i] !== 1) {
      let j = i;
      while (j < n && target[j] === 1 && curShape[j] !== 1) j++;
      const O = numel(curShape.slice(0, i)), R = numel(curShape.slice(i, j)), I = numel(curShape.slice(j));
      curShape = [...curShape.slice(0, i), ...new Array(j - i).fill(1), ...curShape.slice(j)];
      const next = reduce('sum', cur, O, R, I, curShape).y;
      if (cur !== g) cur.dispose();
      cur = next;
      i = j;
    } else i++;
  }
  const out = cur.view(shape);
  if (cur !== g) cur.dispose();
  return out;
}

// ---- elementwise: each op's forward, backward and reference are its row in elementwise.ts ----

/** Unary `op` by its UNARY row, recorded with the row's backward (which throws for grad: null). */
export function unaryOp(op: UnaryOp, x: Tensor, s = 0): Tensor {
  const y = unary(op, x, s);
  const saves = UNARY[op].saves;
  return record(y, [x], (dy) => [unaryBackward(op, dy, saves === 'x' ? x : saves === 'y' ? y : null, s)]);
}

/** Binary `op` by its BINARY row with broadcasting; each gradient is summed back to its input's shape. */
export function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const grad = (wrt: 'a' | 'b', t: Tensor, dy: Tensor) => {
    if (!t.requiresGrad) return null;
    const g = binaryBackward(op, wrt, dy, a, b);
    return g === dy ? sumTo(g, t.shape) : sumToFree(g, t.shape);
  };
  return record(binary(op, a, b), [a, b], (dy) => [grad('a', a, dy), grad('b', b, dy)]);
}

function sumToFree(g: Tensor, shape: Shape): Tensor {
  const r = sumTo(g, shape);
  if (r !== g) g.dispose();
  return r;
}

export const add = (a: Tensor, b: Tensor) => binaryOp('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binaryOp('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binaryOp('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binaryOp('div', a, b);
export const neg = (x: Tensor) => unaryOp('neg', x);
export const exp = (x: Tensor) => unaryOp('exp', x);
export const log = (x: Tensor) => unaryOp('log', x);
export const sqrt = (x: Tensor) => unaryOp('sqrt', x);
export const relu = (x: Tensor) => unaryOp('relu', x);
export const sigmoid = (x: Tensor) => unaryOp('sigmoid', x);
export const tanh = (x: Tensor) => unaryOp('tanh', x);
export const gelu = (x: Tensor) => unaryOp('gelu', x);
export const pow = (x: Tensor, p: number) => unaryOp('pow', x, p);
export const addScalar = (x: Tensor, s: number) => unaryOp('addScalar', x, s);
export const mulScalar = (x: Tensor, s: number) => unaryOp('mulScalar', x, s);

/**
 * The backward of a fused relu epilogue (matmul, conv2d): `f` runs on dy masked where the
 * output y is 0 (relu's row backward), or on dy itself without relu; the mask is freed after.
 */
export function throughRelu<T>(dy: Tensor, y: Tensor, relu: boolean | undefined, f: (dz: Tensor) => T): T {
  if (!relu) return f(dy);
  const dz = unaryBackward('relu', dy, y);
  try {
    return f(dz);
  } finally {
    dz.dispose();
  }
}

// ---- reductions ----

function normAxes(axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return [...Array(ndim).keys()];
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => (a < 0 ? a + ndim : a));
  for (const a of list) if (a < 0 || a >= ndim) throw new Error(`axis ${a} out of range for ${ndim} dims`);
  return [...new Set(list)].sort((a, b) => a - b);
}

/** Elements spanned by dims `axes` of x. */
const dimsOf = (x: Tensor, axes: readonly number[]) => numel(axes.map((i) => x.shape[i]));

function reducedShape(shape: Shape, axes: number[], keepDim: boolean): number[] {
  return keepDim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDim = false, scale = 1): Tensor {
  const ax = normAxes(axes, x.ndim);
  const keep = reducedShape(x.shape, ax, true);
  // Move reduced axes last when they are not contiguous, then one (O, R, 1) reduction.
  const contiguous = ax.every((a, i) => i === 0 || a === ax[i - 1] + 1);
  let src = x;
  let O: number, R: number, I: number;
  if (contiguous && ax.length) {
    O = numel(x.shape.slice(0, ax[0]));
    R = dimsOf(x, ax);
    I = numel(x.shape.slice(ax[ax.length - 1] + 1));
  } else {
    const rest = [...x.shape.keys()].filter((i) => !ax.includes(i));
    src = permuteK(x, [...rest, ...ax]);
    O = dimsOf(x, rest);
    R = dimsOf(x, ax);
    I = 1;
  }
  const y = reduce('sum', src, O, R, I, reducedShape(x.shape, ax, keepDim), scale).y;
  if (src !== x) src.dispose();
  return record(y, [x], (dy) => {
    const g = expandK(dy, x.shape, broadcastStrides(keep, x.shape));
    if (scale === 1) return [g];
    const s = unary('mulScalar', g, scale);
    g.dispose();
    return [s];
  });
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  const ax = normAxes(axes, x.ndim);
  return sum(x, ax, keepDim, 1 / dimsOf(x, ax));
}

/** Max over one axis (all elements when omitted); the gradient goes to the first maximum. */
export function max(x: Tensor, axis?: number, keepDim = false): Tensor {
  const { y, idx, O, R, I } = maxImpl(x, axis, keepDim);
  return record(y, [x], (dy) => [scatterAxis(dy, idx, O, R, I, x.shape)], [idx]);
}

function maxImpl(x: Tensor, axis: number | undefined, keepDim: boolean) {
  if (axis === undefined) {
    const r = reduce('max', x, 1, x.size, 1, keepDim ? x.shape.map(() => 1) : []);
    return { y: r.y, idx: r.idx!, O: 1, R: x.size, I: 1 };
  }
  const a = normAxes(axis, x.ndim)[0];
  const O = numel(x.shape.slice(0, a)), I = numel(x.shape.slice(a + 1));
  const r = reduce('max', x, O, x.shape[a], I, reducedShape(x.shape, [a], keepDim));
  return { y: r.y, idx: r.idx!, O, R: x.shape[a], I };
}

/** Index of the first maximum along `axis` (i32; no gradient). */
export function argmax(x: Tensor, axis?: number, keepDim = false): Tensor {
  const { y, idx } = maxImpl(x, axis, keepDim);
  y.dispose();
  return idx;
}

// ---- shapes ----

export function reshape(x: Tensor, shape: Shape): Tensor {
  const y = x.view(shape);
  return record(y, [x], (dy) => [dy.view(x.shape)]);
}

/** x repeated along its size-1 (and missing leading) dims to `shape`, as torch's expand (a copy here); the gradient sums back. */
export function expand(x: Tensor, shape: Shape): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0 || x.shape.some((d, i) => d !== 1 && d !== shape[lead + i])) throw new Error(`expand: [${x.shape}] does not expand to [${shape}]`);
  return record(expandK(x, shape, broadcastStrides(x.shape, shape)), [x], (dy) => [sumTo(dy, x.shape)]);
}

export function flatten(x: Tensor, startDim = 1): Tensor {
  return reshape(x, [...x.shape.slice(0, startDim), -1]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim || [...perm].sort().some((p, i) => p !== i)) throw new Error(`permute: [${perm}] is not a permutation of ${x.ndim} dims`);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return record(permuteK(x, perm), [x], (dy) => [permuteK(dy, inv)]);
}

/** Swaps two dims (the last two by default). */
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const p = [...x.shape.keys()];
  const a = d0 < 0 ? d0 + x.ndim : d0, b = d1 < 0 ? d1 + x.ndim : d1;
  [p[a], p[b]] = [p[b], p[a]];
  return permute(x, p);
}

/** x[start : start + size] along every dim. */
export function slice(x: Tensor, start: readonly number[], size: readonly number[]): Tensor {
  if (start.length !== x.ndim || size.length !== x.ndim || start.some((s, i) => s < 0 || s + size[i] > x.shape[i])) {
    throw new Error(`slice [${start}] + [${size}] out of range for shape [${x.shape}]`);
  }
  return record(sliceK(x, start, size), [x], (dy) => {
    const dx = Tensor.zeros(x.shape);
    sliceAssign(dx, dy, start);
    return [dx];
  });
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const a = axis < 0 ? axis + xs[0].ndim : axis;
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((s, t) => s + t.shape[a], 0);
  for (const t of xs) {
    if (t.ndim !== shape.length || t.shape.some((d, i) => i !== a && d !== shape[i])) throw new Error(`concat: shape [${t.shape}] does not match [${xs[0].shape}] off axis ${a}`);
  }
  const y = Tensor.empty(shape, xs[0].dtype);
  const starts: number[] = [];
  let off = 0;
  for (const t of xs) {
    const st = shape.map((_, i) => (i === a ? off : 0));
    starts.push(off);
    sliceAssign(y, t, st);
    off += t.shape[a];
  }
  return record(y, xs, (dy) =>
    xs.map((t, k) => (t.requiresGrad ? sliceK(dy, shape.map((_, i) => (i === a ? starts[k] : 0)), t.shape) : null)),
  );
}

// ---- matmul ----

/**
 * op(a) @ op(b) [+ bias] [relu] with a leading batch dim (a batch of 1 broadcasts);
 * the backward pass uses transposed operands in place, never a transposed copy.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}): Tensor {
  const y = matmulK(a, b, opts);
  const { transA = false, transB = false, bias = null, relu: act = false } = opts;
  return record(y, [a, b, bias], (dy) => throughRelu(dy, y, act, (dz) => {
    let da: Tensor | null = null, db: Tensor | null = null;
    if (a.requiresGrad) {
      da = transA ? matmulK(b, dz, { transA: transB, transB: true }) : matmulK(dz, b, { transB: !transB });
      da = batchSumTo(da, a);
    }
    if (b.requiresGrad) {
      db = transB ? matmulK(dz, a, { transA: true, transB: transA }) : matmulK(a, dz, { transA: !transA });
      db = batchSumTo(db, b);
    }
    const dbias = bias?.requiresGrad ? reduce('sum', dz, 1, dz.size / bias.size, bias.size, bias.shape).y : null;
    return [da, db, dbias];
  }));
}

/** Sums a per-batch gradient over the batch when the operand was broadcast. */
function batchSumTo(g: Tensor, like: Tensor): Tensor {
  if (g.size === like.size) return g;
  const r = reduce('sum', g, 1, g.size / like.size, like.size, like.shape).y;
  g.dispose();
  return r;
}

