// Elementwise kernels: each op is one table row (a WGSL expression) expanded by one
// template. Unary ops see `x` and the scalar param `s`; binary ops see `a`, `b`, `s`.

import { kernelCode } from './codegen.js';
import { config } from '../config.js';
import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor, type Shape } from '../tensor.js';

export const UNARY = {
  copy: 'x',
  neg: '-x',
  abs: 'abs(x)',
  exp: 'exp(x)',
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  relu: 'max(x, 0.0)',
  sigmoid: '1.0 / (1.0 + exp(-x))',
  tanh: 'tanh_(x)',
  gelu: '0.5 * x * (1.0 + erf_(x * 0.7071067811865476))',
  pow: 'pow_(x, s)',
  addScalar: 'x + s',
  mulScalar: 'x * s',
  rsubScalar: 's - x',
} as const;

export const BINARY = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: 'max(a, b)',
  // Backward helpers: a is the upstream gradient, b the saved input or output.
  reluGrad: 'select(0.0, a, b > 0.0)', // NOTE: relu'(0) = 0, as PyTorch
  sigmoidGrad: 'a * b * (1.0 - b)', // b = sigmoid(x)
  tanhGrad: 'a * (1.0 - b * b)', // b = tanh(x)
  geluGrad: 'a * (0.5 * (1.0 + erf_(b * 0.7071067811865476)) + b * 0.3989422804014327 * exp(-0.5 * b * b))', // b = x
  powGrad: 'a * s * pow_(b, s - 1.0)', // b = x
} as const;

export type UnaryOp = keyof typeof UNARY;
export type BinaryOp = keyof typeof BINARY;

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

function unaryCode(expr: string): string {
  return /* wgsl */ `${HELPERS}${WG_INDEX}
struct P { n: u32, per: u32, s: f32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
// Y[i] = f(X[i]) for i < n
${forEach(`let x = X[i];
    let s = p.s;
    Y[i] = ${expr};`)}`;
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

function binaryCode(expr: string, broadcast: boolean): string {
  const index = broadcast ? 'let o = offsets(i, p.rank, p.shape, p.sa, p.sb); let ia = o.x; let ib = o.y;' : 'let ia = i; let ib = i;';
  return /* wgsl */ `${HELPERS}${WG_INDEX}${STRIDED}
struct P { n: u32, per: u32, rank: u32, s: f32, shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
// Y[i] = f(A[ia], B[ib]) for i < n, with broadcast strides sa, sb (0 on broadcast dims)
${forEach(`${index}
    let a = A[ia];
    let b = B[ib];
    let s = p.s;
    Y[i] = ${expr};`)}`;
}

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


export function unary(op: UnaryOp, x: Tensor, s = 0): Tensor {
  const y = Tensor.empty(x.shape);
  dispatch(kernelCode(['unary', op], () => unaryCode(UNARY[op])), [x, y], [x.size, perInvocation(), fbits(s)], groupsFor(x.size));
  return y;
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number): Tensor {
  const y = Tensor.empty(shape);
  dispatch(FILL, [y], [y.size, perInvocation(), fbits(value)], groupsFor(y.size));
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

export function binary(op: BinaryOp, a: Tensor, b: Tensor, s = 0): Tensor {
  const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  const shape = same ? [...a.shape] : broadcastShapes(a.shape, b.shape);
  const y = Tensor.empty(shape);
  const params = [y.size, perInvocation(), shape.length, fbits(s)];
  if (!same) params.push(...dims8(shape), ...dims8(broadcastStrides(a.shape, shape)), ...dims8(broadcastStrides(b.shape, shape)));
  dispatch(kernelCode(['binary', op, same], () => binaryCode(BINARY[op], !same)), [a, b, y], params, groupsFor(y.size));
  return y;
}

/** y += alpha * x, in place (same sizes). */
export function axpy(y: Tensor, x: Tensor, alpha = 1): void {
  if (x.size !== y.size) throw new Error(`axpy: sizes ${x.size} and ${y.size} differ`);
  dispatch(AXPY, [x, y], [y.size, perInvocation(), fbits(alpha)], groupsFor(y.size));
}
