// Elementwise ops: each op is one table row (its forward WGSL, its backward WGSL, what the
// backward reads, and its float64 reference) expanded by one template. Unary forwards see
// `x` and the scalar param `s`; their backward sees `dy`, `s` and the saved `x` or `y`.
// Binary forwards see `a`, `b`, `s`; their backward, one expression per input, sees `dy`,
// `a`, `b`. A row with `grad: null` has no gradient: backward through it throws.

import { kernelCode } from './codegen.js';
import { config, splitToFit } from '../config.js';
import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor, sameShape, type Shape } from '../tensor.js';

export interface UnaryRow {
  /** WGSL of x and s. */
  fwd: string;
  /** WGSL of the input gradient from dy, s and the saved value; 'dy' passes dy on (no kernel); null: no gradient. */
  grad: string | null;
  /** What the backward reads beside dy: the input x, the output y, or nothing. */
  saves: 'x' | 'y' | null;
  /** Float64 reference of the forward (the tests read it from here). */
  ref: (x: number, s: number) => number;
}

export interface BinaryRow {
  /** WGSL of a, b and s. */
  fwd: string;
  /** WGSL of the gradients of a and of b (before summing over broadcast dims) from dy, a, b; null: no gradient. */
  grad: { a: string; b: string } | null;
  ref: (a: number, b: number) => number;
}

const unaryRows = {
  copy: { fwd: 'x', grad: 'dy', saves: null, ref: (x) => x },
  neg: { fwd: '-x', grad: '-dy', saves: null, ref: (x) => -x },
  abs: { fwd: 'abs(x)', grad: null, saves: null, ref: Math.abs },
  exp: { fwd: 'exp(x)', grad: 'dy * y', saves: 'y', ref: Math.exp },
  log: { fwd: 'log(x)', grad: 'dy / x', saves: 'x', ref: Math.log },
  sqrt: { fwd: 'sqrt(x)', grad: 'dy / y * 0.5', saves: 'y', ref: Math.sqrt },
  relu: { fwd: 'max(x, 0.0)', grad: 'select(0.0, dy, y > 0.0)', saves: 'y', ref: (x) => Math.max(x, 0) }, // NOTE: relu'(0) = 0, as PyTorch
  sigmoid: { fwd: '1.0 / (1.0 + exp(-x))', grad: 'dy * y * (1.0 - y)', saves: 'y', ref: (x) => 1 / (1 + Math.exp(-x)) },
  tanh: { fwd: 'tanh_(x)', grad: 'dy * (1.0 - y * y)', saves: 'y', ref: Math.tanh },
  gelu: {
    fwd: '0.5 * x * (1.0 + erf_(x * 0.7071067811865476))',
    grad: 'dy * (0.5 * (1.0 + erf_(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x))',
    saves: 'x',
    ref: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  },
  pow: { fwd: 'pow_(x, s)', grad: 'dy * s * pow_(x, s - 1.0)', saves: 'x', ref: (x, s) => Math.pow(x, s) },
  addScalar: { fwd: 'x + s', grad: 'dy', saves: null, ref: (x, s) => x + s },
  mulScalar: { fwd: 'x * s', grad: 'dy * s', saves: null, ref: (x, s) => x * s },
  rsubScalar: { fwd: 's - x', grad: null, saves: null, ref: (x, s) => s - x },
} satisfies Record<string, UnaryRow>;

const binaryRows = {
  add: { fwd: 'a + b', grad: { a: 'dy', b: 'dy' }, ref: (a, b) => a + b },
  sub: { fwd: 'a - b', grad: { a: 'dy', b: '-dy' }, ref: (a, b) => a - b },
  mul: { fwd: 'a * b', grad: { a: 'dy * b', b: 'dy * a' }, ref: (a, b) => a * b },
  div: { fwd: 'a / b', grad: { a: 'dy / b', b: '-(dy / b) * (a / b)' }, ref: (a, b) => a / b }, // d/db = -dy a / b^2
  maximum: { fwd: 'max(a, b)', grad: null, ref: Math.max },
} satisfies Record<string, BinaryRow>;

export type UnaryOp = keyof typeof unaryRows;
export type BinaryOp = keyof typeof binaryRows;
export const UNARY: Record<UnaryOp, UnaryRow> = unaryRows;
export const BINARY: Record<BinaryOp, BinaryRow> = binaryRows;

/** erf in float64 (gelu's reference): a series below 3, else a continued fraction for erfc. */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let sum = z, term = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (z + f);
  return Math.sign(x) * (1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f));
}

const HELPERS = /* wgsl */ `
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}
// erf: Taylor series below 0.5, else Numerical Recipes' erfc (fractional error < 1.2e-7).
fn erf_(x: f32) -> f32 {
  let z = abs(x);
  if (z < 0.5) {
    let t = x * x;
    return 1.1283791670955126 * x * (1.0 + t * (-0.3333333333 + t * (0.1 + t * (-0.0238095238 + t * (0.0046296296 - t * 0.0007575758)))));
  }
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return sign(x) * (1.0 - r);
}
fn pow_(x: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  let r = pow(abs(x), p);
  if (x == 0.0) { return select(1.0 / x, 0.0, p > 0.0); } // 0^-p = inf
  if (x < 0.0) {
    if (fract(p) != 0.0) { return sqrt(x); } // NaN, as PyTorch
    if (fract(p * 0.5) != 0.0) { return -r; }
  }
  return r;
}`;

const WG = 256;
const MAX_RANK = 8;

/**
 * Elements per invocation: CPU adapters pay per invocation, so each one walks a run of
 * elements there; GPUs keep one element per invocation (coalesced). A param, not a pipeline.
 */
export function perInvocation(): number {
  return config().elementsPerInvocation;
}

export function groupsFor(n: number): number {
  return Math.ceil(n / (WG * perInvocation()));
}

/**
 * The main of an elementwise kernel: `body` runs for each i < p.n of this invocation's
 * run [first, last); `before` runs once before the loop.
 */
export function forEach(body: string, before = ''): string {
  return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let first = (wgIndex(wid, nwg) * ${WG}u + li) * p.per;
  let last = min(first + p.per, p.n);${before ? `
  ${before}` : ''}
  for (var i = first; i < last; i++) {
    ${body}
  }
}`;
}

/** Index math for up to 8 dims: the offsets of linear index i of `shape` under two sets of strides. */
export const STRIDED = /* wgsl */ `
fn dimOf(v: array<vec4<u32>, 2>, k: u32) -> u32 { return v[k / 4u][k % 4u]; }
fn offsets(i: u32, rank: u32, shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2>) -> vec2<u32> {
  var rem = i; var o = vec2<u32>(0u);
  for (var d = 0u; d < rank; d++) {
    let k = rank - 1u - d;
    let c = rem % dimOf(shape, k);
    rem = rem / dimOf(shape, k);
    o += c * vec2<u32>(dimOf(sa, k), dimOf(sb, k));
  }
  return o;
}`;

const AXPY = /* wgsl */ `${WG_INDEX}
struct P { n: u32, per: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
// Y[i] += alpha * X[i]
${forEach('Y[i] += p.alpha * X[i];')}`;

const FILL = /* wgsl */ `${WG_INDEX}
struct P { n: u32, per: u32, v: f32 }
@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
// Y[i] = v
${forEach('Y[i] = p.v;')}`;

/** Element i of a kernel's input `v`: a and b through the broadcast strides, the rest at i. */
const at = (v: string, broadcast: boolean) => (!broadcast ? 'i' : v === 'a' ? 'o.x' : v === 'b' ? 'o.y' : 'i');

/**
 * The one elementwise template: OUT[i] = expr over the inputs named in `vars` (each bound
 * read-only as its upper-case name, in order), for i < n.
 */
function mapCode(vars: readonly string[], expr: string, broadcast: boolean): string {
  const bind = vars.map((v, k) => `@group(0) @binding(${k}) var<storage, read> ${v.toUpperCase()}: array<f32>;`).join('\n');
  return /* wgsl */ `${HELPERS}${WG_INDEX}${broadcast ? STRIDED : ''}
struct P { n: u32, per: u32, rank: u32, s: f32, shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
${bind}
@group(0) @binding(${vars.length}) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(${vars.length + 1}) var<uniform> p: P;
// OUT[i] = ${expr} for i < n${broadcast ? ', with a and b read through broadcast strides sa, sb (0 on broadcast dims)' : ''}
${forEach(`${broadcast ? 'let o = offsets(i, p.rank, p.shape, p.sa, p.sb);\n    ' : ''}${vars.map((v) => `let ${v} = ${v.toUpperCase()}[${at(v, broadcast)}];`).join(' ')}
    let s = p.s;
    OUT[i] = ${expr};`)}`;
}

/** Dispatches an elementwise kernel over `out`; `shapes` (a's and b's) when they broadcast. */
function run(code: string, inputs: Tensor[], out: Tensor, s: number, shapes?: [Shape, Shape]): Tensor {
  if (!shapes) {
    flat(code, [...inputs, out], [0, 0, out.ndim, fbits(s)]);
    return out;
  }
  const params = [out.size, perInvocation(), out.ndim, fbits(s)];
  params.push(...dims8(out.shape), ...dims8(broadcastStrides(shapes[0], out.shape)), ...dims8(broadcastStrides(shapes[1], out.shape)));
  dispatch(code, [...inputs, out], params, groupsFor(out.size));
  return out;
}

/**
 * Dispatches a kernel over the elements of same-size tensors, in runs that each fit one
 * binding when the tensors are larger than one may span. `params` starts with two slots
 * this fills: the run's element count and the elements per invocation.
 */
function flat(code: string, ts: Tensor[], params: number[]): void {
  const n = ts[ts.length - 1].size;
  params[1] = perInvocation();
  if (4 * n <= config().maxBindingBytes) {
    params[0] = n;
    dispatch(code, ts, params, groupsFor(n));
    return;
  }
  for (const [start, count] of splitToFit('elementwise op', n, ts.map(() => 4))) {
    params[0] = count; // dispatch copies the params at once
    dispatch(code, ts.map((t) => t.bytes(4 * start, 4 * count)), params, groupsFor(count));
  }
}

const UNARY_SAVES = { x: ['dy', 'x'], y: ['dy', 'y'] } as const;

/** y = op(x), by the op's UNARY row. */
export function unary(op: UnaryOp, x: Tensor, s = 0): Tensor {
  return run(kernelCode(['unary', op], () => mapCode(['x'], UNARY[op].fwd, false)), [x], Tensor.empty(x.shape), s);
}

/** The input gradient of unary `op` from dy and what its row saves (x, y, or nothing: null). */
export function unaryBackward(op: UnaryOp, dy: Tensor, saved: Tensor | null, s = 0): Tensor {
  const row = UNARY[op];
  if (row.grad === null) throw new Error(`${op} has no gradient (its UNARY row in elementwise.ts has grad: null)`);
  if (row.grad === 'dy') return dy;
  const vars = row.saves ? UNARY_SAVES[row.saves] : ['dy'];
  const code = kernelCode(['unary', op, 'grad'], () => mapCode(vars, row.grad!, false));
  if (row.saves && !saved) throw new Error(`${op}'s backward reads its ${row.saves}`);
  return run(code, row.saves ? [dy, saved!] : [dy], Tensor.empty(dy.shape), s);
}

/** op(a, b) with NumPy broadcasting, by the op's BINARY row. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor, s = 0): Tensor {
  const same = sameShape(a.shape, b.shape);
  const y = Tensor.empty(same ? a.shape : broadcastShapes(a.shape, b.shape));
  return run(kernelCode(['binary', op, same], () => mapCode(['a', 'b'], BINARY[op].fwd, !same)), [a, b], y, s, same ? undefined : [a.shape, b.shape]);
}

/**
 * The gradient of binary `op` with respect to input `wrt` from dy (the output's shape),
 * before summing over broadcast dims ('dy' rows return dy itself).
 */
export function binaryBackward(op: BinaryOp, wrt: 'a' | 'b', dy: Tensor, a: Tensor, b: Tensor): Tensor {
  const grad = BINARY[op].grad;
  if (grad === null) throw new Error(`${op} has no gradient (its BINARY row in elementwise.ts has grad: null)`);
  if (grad[wrt] === 'dy') return dy;
  const same = sameShape(a.shape, b.shape);
  const code = kernelCode(['binary', op, wrt, same], () => mapCode(['dy', 'a', 'b'], grad[wrt], !same));
  return run(code, [dy, a, b], Tensor.empty(dy.shape), 0, same ? undefined : [a.shape, b.shape]);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number): Tensor {
  const y = Tensor.empty(shape);
  flat(FILL, [y], [0, 0, fbits(value)]);
  return y;
}

/** The shape two shapes broadcast to (NumPy rules). */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Row-major strides of `shape` seen from `out` (0 on broadcast dims). */
export function broadcastStrides(shape: Shape, out: Shape): number[] {
  const st: number[] = new Array(out.length).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const j = out.length - shape.length + i;
    st[j] = shape[i] === 1 && out[j] !== 1 ? 0 : acc;
    acc *= shape[i];
  }
  return st;
}

/** Packs up to 8 dims into the two vec4<u32> of a params struct. */
export function dims8(v: readonly number[]): number[] {
  if (v.length > MAX_RANK) throw new Error(`at most ${MAX_RANK} dimensions are supported, got ${v.length}`);
  const out = new Array(8).fill(0);
  v.forEach((d, i) => (out[i] = d));
  return out;
}

/** y += alpha * x, in place (same sizes). */
export function axpy(y: Tensor, x: Tensor, alpha = 1): void {
  if (x.size !== y.size) throw new Error(`axpy: sizes ${x.size} and ${y.size} differ`);
  flat(AXPY, [x, y], [0, 0, fbits(alpha)]);
}
