// Softmax family over the last dim of an (R, K) view: softmax / log_softmax forward and
// backward, and fused cross-entropy: one row pass gives the per-row log-sum-exp, the
// loss and the batch metrics (correct, count, bad labels, confusion matrix); the
// backward is one kernel over the rows.
//
// L invocations ("lanes", a power of two, a uniform: one pipeline for every L) share a
// row: lane j takes k = j, j + L, ... and the lanes combine through workgroup memory.
// On lavapipe L = 1: no barriers, and each invocation loops over a whole row, which
// runs far faster there than one invocation per element. On a GPU a wider L coalesces.

import { config } from '../config.js';
import { dispatch, WG_INDEX } from '../runtime.js';
import { Tensor } from '../tensor.js';
import { kernelCode } from './codegen.js';
import { treeFold } from './reduce.js';

const WG = 64;
/** Cross-entropy splits the rows over more workgroups only past this many logits each. */
const XENT_WORK = 32768;

/** Lanes per row of K: the table's (1 on a CPU adapter), else about K/8 (at most the workgroup). */
export function rowLanes(K: number): number {
  return config().rowLanes || Math.min(WG, 2 ** Math.ceil(Math.log2(Math.max(1, K / 8))));
}

// Lane j of row r: invocation li of workgroup g serves row g * (WG / L) + li / L.
const LANES = /* wgsl */ `${WG_INDEX}
var<workgroup> red: array<vec4<f32>, ${WG}>;
struct Lane { r: u32, j: u32 }
fn laneOf(block: u32, li: u32, L: u32) -> Lane { return Lane(block * (${WG}u / L) + li / L, li % L); }`;

/** WGSL `fn name(v, j, li, L)`: v combined by `combine` over the L lanes of each row; every lane gets the result. */
const laneTree = (name: string, combine: string) => /* wgsl */ `
fn ${name}(v: vec4<f32>, j: u32, li: u32, L: u32) -> vec4<f32> {
  if (L == 1u) { return v; }
  workgroupBarrier(); // red may still be read by the previous call
  red[li] = v;
  workgroupBarrier();
  ${treeFold('L', 'j', `red[li] = ${combine}(red[li], red[li + s]);`)}
  return red[li - j];
}`;

const SUM_TREE = /* wgsl */ `
fn add4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> { return a + b; }
${laneTree('laneSum', 'add4')}`;

// NOTE: online softmax statistics, one exp per element: the running sum is rescaled
// when the running max grows; argmax is the first maximum (as torch.argmax).
const STATS_TREE = /* wgsl */ `
// (max, sum exp(x - max), first argmax (as f32: exact below 2^24), 0) over X[base + k],
// k = j, j + L, ... < K; s = 0 when empty
fn laneStats(base: u32, j: u32, L: u32, K: u32) -> vec4<f32> {
  if (j >= K) { return vec4<f32>(0.0); }
  var m = X[base + j]; var s = 1.0; var arg = j;
  for (var k = j + L; k < K; k += L) {
    let v = X[base + k];
    if (v > m) { s = s * exp(m - v) + 1.0; m = v; arg = k; } else { s += exp(v - m); }
  }
  return vec4<f32>(m, s, f32(arg), 0.0);
}
fn mergeStats(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  if (b.y == 0.0) { return a; }
  let m = max(a.x, b.x);
  let first = select(a.z, b.z, b.x > a.x || (b.x == a.x && b.z < a.z));
  return vec4<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m), first, 0.0);
}
${laneTree('rowStats', 'mergeStats')}`;

/** A kernel over rows r < p.R of a (R, K) layout; `body` sees r, j (lane), L, ok (r < R), base = r * K. */
function rowKernel(decls: string, body: string): string {
  return /* wgsl */ `${LANES}
struct P { R: u32, K: u32, L: u32 }
${decls}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let L = p.L;
  let lane = laneOf(wgIndex(wid, nwg), li, L);
  let r = lane.r; let j = lane.j;
  let ok = r < p.R;
  let base = r * p.K;
  let K = select(0u, p.K, ok);
  ${body}
}`;
}

const softmaxForwardCode = (log: boolean) =>
  rowKernel(
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${STATS_TREE}
// Y (R,K) = ${log ? 'log_softmax' : 'softmax'}(X (R,K)) over K`,
    `let st = rowStats(laneStats(base, j, L, K), j, li, L);
  ${log
    ? `let ls = log(st.y);
  // NOTE: (x - max) - log(sum), not x - (max + log(sum)): exact near large logits
  for (var k = j; k < K; k += L) { Y[base + k] = (X[base + k] - st.x) - ls; }`
    : `let inv = 1.0 / st.y;
  for (var k = j; k < K; k += L) { Y[base + k] = exp(X[base + k] - st.x) * inv; }`}`,
  );

const softmaxBackwardCode = (log: boolean) =>
  rowKernel(
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> Y: array<f32>;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${SUM_TREE}
// DX (R,K) = ${log ? 'DY - exp(Y) * sum_k DY' : 'Y * (DY - sum_k DY * Y)'}, Y = ${log ? 'log_softmax' : 'softmax'}(X)`,
    `var part = 0.0;
  for (var k = j; k < K; k += L) { part += ${log ? 'DY[base + k]' : 'DY[base + k] * Y[base + k]'}; }
  let d = laneSum(vec4<f32>(part, 0.0, 0.0, 0.0), j, li, L).x;
  for (var k = j; k < K; k += L) {
    let i = base + k;
    DX[i] = ${log ? 'DY[i] - exp(Y[i]) * d' : 'Y[i] * (DY[i] - d)'};
  }`,
  );

/** Rows and row length of x seen as (R, K) over its last dim. */
export function rowsOf(x: Tensor): [number, number] {
  const K = x.shape.at(-1) ?? 1;
  if (K === 0 || x.dtype !== 'f32') throw new Error(`softmax over the last dim of ${x.dtype}[${x.shape}]: needs f32 and a non-empty last dim`);
  return [x.size / K, K];
}

/** softmax (or log_softmax) of x over its last dim. */
export function softmaxForward(x: Tensor, log: boolean): Tensor {
  const [R, K] = rowsOf(x);
  const L = rowLanes(K);
  const y = Tensor.empty(x.shape);
  dispatch(kernelCode(['softmax', 'fwd', log], () => softmaxForwardCode(log)), [x, y], [R, K, L], Math.ceil((R * L) / WG));
  return y;
}

/** The input gradient of softmax (or log_softmax) from the output gradient dy and the output y. */
export function softmaxBackward(dy: Tensor, y: Tensor, log: boolean): Tensor {
  const [R, K] = rowsOf(y);
  const L = rowLanes(K);
  const dx = Tensor.empty(y.shape);
  dispatch(kernelCode(['softmax', 'bwd', log], () => softmaxBackwardCode(log)), [y, dy, dx], [R, K, L], Math.ceil((R * L) / WG));
  return dx;
}

// ---- cross-entropy ----

// Shared by the cross-entropy kernels: params and label classification.
// NOTE: a label equal to ignoreIndex is skipped (as PyTorch); any other label outside
// [0, K) is skipped too (never indexes memory) and counted as bad in the metrics.
const XENT_LABELS = /* wgsl */ `
struct P { N: u32, K: u32, L: u32, G: u32, iters: u32, ignore: i32, mean: u32, acc: u32 }
const IGNORED = -1;
const BAD = -2;
fn labelOf(lab: i32) -> i32 {
  if (lab == p.ignore) { return IGNORED; }
  return select(BAD, lab, lab >= 0 && lab < i32(p.K));
}`;

// The end of the forward: loss, gradient scale and metrics from the summed row terms.
const XENT_FINISH_FN = /* wgsl */ `${XENT_LABELS}
// t = [sum of row losses, valid rows, correct rows, bad labels]
fn finish(t: vec4<f32>) {
  // NOTE: mean over the rows that are not ignored, as PyTorch: NaN when there are none
  let none = p.mean == 1u && t.y == 0.0;
  let scale = select(1.0, 1.0 / max(t.y, 1.0), p.mean == 1u);
  let nan = bitcast<f32>(p.mean * 0x7fc00000u); // NaN when used (p.mean = 1): a constant NaN does not compile
  LOSS[0] = select(t.x * scale, nan, none);
  LSE[p.N] = select(scale, 0.0, none);
  if (p.acc == 1u) {
    ACC[0] += t.x;
    ACC[1] += t.z;
    ACC[2] += t.y;
    ACC[3] += t.w;
  }
}`;

const xentRowsCode = (confusion: boolean) => /* wgsl */ `${LANES}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> LAB: array<i32>;
@group(0) @binding(2) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(3) var<storage, read_write> PART: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(5) var<storage, read_write> ACC: array<f32>;
${confusion ? '@group(0) @binding(6) var<storage, read_write> CM: array<atomic<i32>>;' : ''}
@group(0) @binding(${confusion ? 7 : 6}) var<uniform> p: P;
${XENT_FINISH_FN}
${STATS_TREE}
${SUM_TREE}
// X (N,K) logits, LAB (N) labels -> LSE (N+1): per-row logsumexp, then the gradient scale;
// PART (G) per-workgroup sums [loss, valid, correct, bad]; with G = 1, LOSS and ACC directly.
// Workgroup g takes row blocks g, g + G, ... (iters of them).
// ${confusion ? 'CM (K,K) += 1 at [label, argmax] (rows: true class, columns: predicted).' : 'No confusion matrix.'}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wgIndex(wid, nwg);
  let L = p.L;
  var t = vec4<f32>(0.0);
  for (var it = 0u; it < p.iters; it++) {
    let lane = laneOf(it * p.G + g, li, L);
    let r = lane.r; let j = lane.j;
    let ok = r < p.N;
    let base = r * p.K;
    let st = rowStats(laneStats(base, j, L, select(0u, p.K, ok)), j, li, L);
    if (ok && j == 0u) {
      LSE[r] = st.x + log(st.y);
      let lab = labelOf(LAB[r]);
      let arg = u32(st.z);
      if (lab >= 0) {
        let c = u32(lab);
        t += vec4<f32>((st.x - X[base + c]) + log(st.y), 1.0, select(0.0, 1.0, arg == c), 0.0);
        ${confusion ? 'atomicAdd(&CM[c * p.K + arg], 1);' : ''}
      } else if (lab == BAD) {
        t.w += 1.0;
      }
    }
  }
  let tot = laneSum(t, li, li, ${WG}u);
  if (li == 0u) {
    PART[g] = tot;
    if (p.G == 1u) { finish(tot); }
  }
}`;

const XENT_FINISH = /* wgsl */ `
@group(0) @binding(0) var<storage, read> PART: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(2) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(3) var<storage, read_write> ACC: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${XENT_FINISH_FN}
// LOSS, LSE[N], ACC from PART (G) when the rows were split over G > 1 workgroups
@compute @workgroup_size(1)
fn main() {
  var t = vec4<f32>(0.0);
  for (var g = 0u; g < p.G; g++) { t += PART[g]; }
  finish(t);
}`;

const XENT_BACKWARD = /* wgsl */ `${LANES}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> LAB: array<i32>;
@group(0) @binding(2) var<storage, read> LSE: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read_write> DX: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
${XENT_LABELS}
// DX (N,K) = (exp(X - LSE[n]) - onehot(LAB[n])) * DY[0] * LSE[N]; 0 on skipped rows
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let lane = laneOf(wgIndex(wid, nwg), li, p.L);
  let n = lane.r;
  if (n >= p.N) { return; }
  let lab = labelOf(LAB[n]);
  let lse = LSE[n];
  let s = select(0.0, DY[0] * LSE[p.N], lab >= 0);
  let base = n * p.K;
  for (var k = lane.j; k < p.K; k += p.L) {
    DX[base + k] = (exp(X[base + k] - lse) - select(0.0, 1.0, i32(k) == lab)) * s;
  }
}`;

export interface XentOptions {
  /** 'mean' over the rows not ignored (PyTorch's default) or 'sum'. */
  reduction?: 'mean' | 'sum';
  ignoreIndex?: number;
  /** A persistent f32 (4) accumulator: += [sum of row losses, correct, counted rows, bad labels]. */
  acc?: Tensor | null;
  /** A persistent i32 (K,K) confusion matrix: += 1 at [label, argmax]. */
  confusion?: Tensor | null;
}

/** What the cross-entropy forward saves for its backward. */
export type XentSaved = {
  /** (N+1): the per-row logsumexp, then the gradient scale (1/valid rows or 1). */
  lse: Tensor;
};

/**
 * Cross-entropy forward of logits (N,K) against i32 labels (N): the scalar loss y and
 * what the backward needs. One dispatch when one workgroup takes all rows, else two.
 */
export function crossEntropyForward(x: Tensor, labels: Tensor, o: XentOptions = {}): { y: Tensor; saved: XentSaved } {
  if (x.ndim !== 2 || x.dtype !== 'f32') throw new Error(`cross-entropy: logits must be f32 (N, K), got ${x.dtype}[${x.shape}]`);
  const [N, K] = x.shape;
  if (labels.dtype !== 'i32' || labels.size !== N) throw new Error(`cross-entropy: labels must be i32 with ${N} elements, got ${labels.dtype}[${labels.shape}]`);
  if (K === 0) throw new Error('cross-entropy over zero classes');
  if (o.confusion && (o.confusion.dtype !== 'i32' || o.confusion.size !== K * K)) throw new Error(`cross-entropy: the confusion matrix must be i32 (${K}, ${K})`);
  if (o.acc && o.acc.size !== 4) throw new Error('cross-entropy: the metrics accumulator must have 4 elements');
  const L = rowLanes(K);
  const blocks = Math.ceil((N * L) / WG); // blocks of WG / L rows
  const G = Math.max(1, Math.min(blocks, Math.ceil((N * K) / XENT_WORK)));
  const loss = Tensor.empty([]);
  const lse = Tensor.empty([N + 1]);
  const part = Tensor.empty([G, 4]);
  const acc = o.acc ?? Tensor.empty([4]);
  const params = [N, K, L, G, Math.ceil(blocks / G), (o.ignoreIndex ?? -100) | 0, +(o.reduction !== 'sum'), +!!o.acc];
  const cm = o.confusion ? [o.confusion] : [];
  dispatch(kernelCode(['xent', !!o.confusion], () => xentRowsCode(!!o.confusion)), [x, labels, lse, part, loss, acc, ...cm], params, G);
  if (G > 1) dispatch(XENT_FINISH, [part, lse, loss, acc], params, 1);
  part.dispose();
  if (!o.acc) acc.dispose();
  return { y: loss, saved: { lse } };
}

/** The logits gradient (N,K) of cross-entropy from the scalar loss gradient dy, what the forward saved, the logits and the labels. */
export function crossEntropyBackward(dy: Tensor, { lse }: XentSaved, x: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const [N, K] = x.shape;
  const L = rowLanes(K);
  const dx = Tensor.empty(x.shape);
  dispatch(XENT_BACKWARD, [x, labels, lse, dy, dx], [N, K, L, 0, 0, ignoreIndex | 0, 0, 0], Math.ceil((N * L) / WG));
  return dx;
}
