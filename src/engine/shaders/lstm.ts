// LSTM kernels (PyTorch nn.LSTM) and the step loops of one layer, forward and backward.
//
// A layer's sequences are time-major and split over time into chunks of `tc` steps, so
// that no binding exceeds the adapter's maxStorageBufferBindingSize; a chunk of `len`
// steps has rows = len*N rows, row = (t - t0)*N + n. Per chunk:
//   X  (rows, In)       the layer's input (the previous layer's O)
//   G  (D, rows, 4H)    x_t W_ih^T, then the gate activations, then their gradients (in place)
//   HP (D, rows, H)     h_{t-1} as step t saw it (reverse: h_{t+1}), for dW_hh
//   CP (D, rows, H)     c_{t-1} likewise
//   O  (rows, D*H)      the output h_t, forward in the first H features, reverse in the last
// Per step: one kernel for both directions (two when their steps fall in different
// chunks) that does the recurrent product h_{t-1} W_hh^T (forward; DG_{t+1} W_hh backward)
// and the gate math; h (forward) and the gate grads (backward) alternate between two
// halves of a buffer, since every lane of a step reads all of the previous step's.
// NOTE: gate order i, f, g, o; bias = b_ih + b_hh; zero initial states, as PyTorch.

import { fitRun } from '../config.js';
import { dispatch, WG_INDEX } from '../runtime.js';
import { stridedCopy } from './layout.js';
import { Tensor } from '../tensor.js';
import { axpy } from './elementwise.js';
import { matmul } from './matmul.js';
import { reduce } from './reduce.js';
import { range } from './codegen.js';

const WG = 64;

const ACT = /* wgsl */ `
fn sigm(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

// Both kernels: one invocation per (direction d in [d0, d0+nd), block of NB samples from
// n0, unit j), so that each weight loaded serves NB samples; the row of direction d's step
// is (d == 0 ? t0 : t1) * N + n in its chunk.
const NB = 4;
const STEP_PARAMS = /* wgsl */ `
struct P { N: u32, H: u32, D: u32, d0: u32, nd: u32, rows: u32, t0: u32, t1: u32, cur: u32 }`;
const STEP_INDEX = /* wgsl */ `
  let i = wgIndex(wid, nwg) * ${WG}u + li;
  let blocks = (p.N + ${NB - 1}u) / ${NB}u;
  if (i >= p.nd * blocks * p.H) { return; }
  let H = p.H;
  let j = i % H;
  let n0 = (i / H) % blocks * ${NB}u;
  let d = p.d0 + i / (blocks * H);
  let tr = select(p.t1, p.t0, d == 0u);
  let half = p.D * p.N * H;                 // (2, D, N, H) states: the halves`;

/** WGSL: sample u of the block (n = n0 + u, clamped to a real one for loads): its indices, then `body` when it exists. */
function perSample(u: number, body: string): string {
  return /* wgsl */ `
  {
    let n = n0 + ${u}u;
    let s = (d * p.N + n) * H + j;            // (D, N, H) states
    let row = tr * p.N + n;
    let q = (d * p.rows + row) * H + j;       // (D, rows, H) saved states
    let g0 = (d * p.rows + row) * 4u * H + j; // (D, rows, 4H) gates
    let o = row * p.D * H + d * H + j;        // (rows, D*H) output
    if (n < p.N) {${body.replaceAll('\n', '\n    ')}
    }
  }`;
}

/** A sample of the block for loads: n0 + u, or the block's first when past N. */
const sampleAt = (u: number) => `select(n0, n0 + ${u}u, n0 + ${u}u < p.N)`;

const GATES = /* wgsl */ `${WG_INDEX}${ACT}${STEP_PARAMS}
@group(0) @binding(0) var<storage, read> WF: array<vec4<f32>>; // (D, H, H) [d, k, j] = W_hh[d, (i, f, g, o) H + j, k]
@group(0) @binding(1) var<storage, read> BIAS: array<f32>;     // (D, 4H) b_ih + b_hh
@group(0) @binding(2) var<storage, read_write> G: array<f32>;  // (D, rows, 4H) x_t W_ih^T -> i, f, g, o
@group(0) @binding(3) var<storage, read_write> HS: array<f32>; // (2, D, N, H) h_{t-1} in half cur -> h_t in the other
@group(0) @binding(4) var<storage, read_write> CS: array<f32>; // (D, N, H) c_{t-1} -> c_t
@group(0) @binding(5) var<storage, read_write> HP: array<f32>; // (D, rows, H) saved h_{t-1}
@group(0) @binding(6) var<storage, read_write> CP: array<f32>; // (D, rows, H) saved c_{t-1}
@group(0) @binding(7) var<storage, read_write> O: array<f32>;  // (rows, D*H) h_t
@group(0) @binding(8) var<uniform> p: P;
// c_t = f c_{t-1} + i g, h_t = o tanh(c_t), gates from x_t W_ih^T + h_{t-1} W_hh^T + b
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  ${STEP_INDEX}
  let b0 = d * 4u * H + j;
  let bias = vec4<f32>(BIAS[b0], BIAS[b0 + H], BIAS[b0 + 2u * H], BIAS[b0 + 3u * H]);
  ${range(NB).map((u) => `let h${u} = p.cur * half + (d * p.N + ${sampleAt(u)}) * H;`).join('\n  ')}
  ${range(NB).map((u) => `var a${u} = bias;`).join(' ')}
  var w = d * H * H + j;
  for (var k = 0u; k < H; k++) {
    let wk = WF[w];
    ${range(NB).map((u) => `a${u} += HS[h${u} + k] * wk;`).join('\n    ')}
    w += H;
  }${range(NB).map((u) => perSample(u, `
let a = a${u} + vec4<f32>(G[g0], G[g0 + H], G[g0 + 2u * H], G[g0 + 3u * H]);
let gi = sigm(a.x);
let gf = sigm(a.y);
let gg = tanh_(a.z);
let go = sigm(a.w);
let cp = CS[s];
let c = gf * cp + gi * gg;
let h = go * tanh_(c);
G[g0] = gi; G[g0 + H] = gf; G[g0 + 2u * H] = gg; G[g0 + 3u * H] = go;
HP[q] = HS[p.cur * half + s]; CP[q] = cp;
HS[(1u - p.cur) * half + s] = h; CS[s] = c;
O[o] = h;`)).join('')}
}`;

const GATES_BACKWARD = /* wgsl */ `${WG_INDEX}${ACT}${STEP_PARAMS}
@group(0) @binding(0) var<storage, read> DO: array<f32>;       // (rows, D*H) dL/dh_t from the output
@group(0) @binding(1) var<storage, read> WB: array<vec4<f32>>; // (D, H, H) [d, k, j] = W_hh[d, (i, f, g, o) H + k, j]
@group(0) @binding(2) var<storage, read> CP: array<f32>;       // (D, rows, H) c_{t-1}
@group(0) @binding(3) var<storage, read_write> G: array<f32>;  // (D, rows, 4H) i, f, g, o -> their pre-activation grads
@group(0) @binding(4) var<storage, read_write> DG: array<vec4<f32>>; // (2, D, N, H) step t+1's gate grads (i, f, g, o) in half cur -> step t's in the other
@group(0) @binding(5) var<storage, read_write> CS: array<f32>; // (D, N, H) c_t -> c_{t-1}
@group(0) @binding(6) var<storage, read_write> DC: array<f32>; // (D, N, H) dL/dc_{t+1} f_{t+1} -> dL/dc_t f_t
@group(0) @binding(7) var<uniform> p: P;
// The gate grads of step t from dh_t = DO + DG_{t+1} W_hh and dc_t = DC + dh_t o (1 - tanh^2 c_t)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  ${STEP_INDEX}
  ${range(NB).map((u) => `let g${u} = p.cur * half + (d * p.N + ${sampleAt(u)}) * H;`).join('\n  ')}
  ${range(NB).map((u) => `var dr${u} = 0.0;`).join(' ')}
  var w = d * H * H + j;
  for (var k = 0u; k < H; k++) {
    let wk = WB[w];
    ${range(NB).map((u) => `dr${u} += dot(DG[g${u} + k], wk);`).join('\n    ')}
    w += H;
  }${range(NB).map((u) => perSample(u, `
let gi = G[g0]; let gf = G[g0 + H]; let gg = G[g0 + 2u * H]; let go = G[g0 + 3u * H];
let tc = tanh_(CS[s]);
let cp = CP[q];
let dh = DO[o] + dr${u};
let dc = DC[s] + dh * go * (1.0 - tc * tc);
let dai = dc * gg * gi * (1.0 - gi);
let daf = dc * cp * gf * (1.0 - gf);
let dag = dc * gi * (1.0 - gg * gg);
let dao = dh * tc * go * (1.0 - go);
G[g0] = dai; G[g0 + H] = daf; G[g0 + 2u * H] = dag; G[g0 + 3u * H] = dao;
DG[(1u - p.cur) * half + s] = vec4<f32>(dai, daf, dag, dao);
CS[s] = cp;
DC[s] = dc * gf;`)).join('')}
}`;

/**
 * W_hh (4H, H) of each direction laid out for the step kernels, the four gates of a
 * (k, j) pair as one vec4: forward [d, k, j, q] = W_hh[q H + j, k]; backward
 * [d, k, j, q] = W_hh[q H + k, j].
 */
export function recurrentWeights(wHh: readonly Tensor[]): { wF: Tensor; wB: Tensor } {
  const H = wHh[0].shape[1];
  const wF = Tensor.empty([wHh.length, H, H, 4]), wB = Tensor.empty([wHh.length, H, H, 4]);
  wHh.forEach((w, d) => {
    // source (q, a, b) at (q H + a) H + b
    stridedCopy(w, wF, [4, H, H], [H * H, H, 1], [1, 4, 4 * H], 0, d * 4 * H * H);
    stridedCopy(w, wB, [4, H, H], [H * H, H, 1], [1, 4 * H, 4], 0, d * 4 * H * H);
  });
  return { wF, wB };
}

/** Sizes of one layer: batch N, steps T, hidden H, directions D, steps per chunk tc. */
export interface SeqShape {
  N: number;
  T: number;
  H: number;
  D: number;
  tc: number;
}

/** The weights of one layer, stacked over directions. */
export interface LayerWeights {
  wIh: Tensor; // (D, 4H, In)
  wF: Tensor; // (D, H, H, 4) W_hh for the forward step (see recurrentWeights)
  wB: Tensor; // (D, H, H, 4) W_hh for the backward step
  bias: Tensor; // (D, 4H) b_ih + b_hh
}

/** What one layer's forward leaves for its backward (all chunked as above). */
export interface LayerSaved {
  g: Tensor[];
  hp: Tensor[];
  cp: Tensor[];
  c: Tensor; // (D, N, H) the final cell states
}

/** Steps per chunk so that a chunk of `width` floats per (step, sample) fits one binding. */
export function chunkSteps(N: number, T: number, width: number): number {
  return Math.min(T, fitRun(`lstm time steps (batch ${N})`, [N * width * 4], { aligned: false, hint: 'split the batch' }));
}

const chunkLen = (s: SeqShape, c: number) => Math.min(s.tc, s.T - c * s.tc);
const chunkCount = (s: SeqShape) => Math.ceil(s.T / s.tc);

/**
 * Copies between a batch-first (N, T, F) tensor and time-major chunks (len*N, F): element
 * (n, t, f) sits at (n*T + t)*F + f in the one, at ((t - t0)*N + n)*F + f in the other.
 * The batch-first side is bound in ranges of samples when it exceeds the binding limit.
 */
function transpose(bf: Tensor, chunks: readonly Tensor[], s: SeqShape, toTime: boolean): void {
  const [N, T, F] = bf.shape;
  const bfStrides = [T * F, F, 1], tmStrides = [F, N * F, 1];
  chunks.forEach((chunk, c) => {
    const shape = [N, chunkLen(s, c), F], off = c * s.tc * F;
    if (toTime) stridedCopy(bf, chunk, shape, bfStrides, tmStrides, off, 0);
    else stridedCopy(chunk, bf, shape, tmStrides, bfStrides, 0, off);
  });
}

/** x (N, T, F) -> time-major chunks (len*N, F). */
export function toTimeChunks(x: Tensor, s: SeqShape): Tensor[] {
  const F = x.shape[2];
  const chunks = Array.from({ length: chunkCount(s) }, (_, c) => Tensor.empty([chunkLen(s, c) * s.N, F]));
  transpose(x, chunks, s, true);
  return chunks;
}

/** Time-major chunks (len*N, F) -> y (N, T, F). */
export function fromTimeChunks(chunks: readonly Tensor[], s: SeqShape): Tensor {
  const y = Tensor.empty([s.N, s.T, chunks[0].shape[1]]);
  transpose(y, chunks, s, false);
  return y;
}

/**
 * The dispatches of one step, whose direction d is at time ts[d]: one for all directions
 * when their rows share a chunk, else one per direction (a buffer may not be bound twice
 * for writing).
 */
function stepDispatches(ts: number[], cur: number, s: SeqShape, run: (chunk: number, d0: number, nd: number, params: number[]) => void): void {
  const cs = ts.map((t) => Math.floor(t / s.tc));
  const tl = ts.map((t) => t % s.tc);
  const params = (c: number, d0: number, nd: number) => [s.N, s.H, s.D, d0, nd, chunkLen(s, c) * s.N, tl[0], tl[1] ?? 0, cur];
  if (s.D === 1 || cs[0] === cs[1]) run(cs[0], 0, s.D, params(cs[0], 0, s.D));
  else for (let d = 0; d < s.D; d++) run(cs[d], d, 1, params(cs[d], d, 1));
}

/** One layer forward: xs are its input chunks (len*N, In); returns its output chunks and what backward needs. */
export function lstmLayerForward(xs: readonly Tensor[], w: LayerWeights, s: SeqShape): { y: Tensor[]; saved: LayerSaved } {
  const { N, T, H, D } = s;
  const g = xs.map((x) => matmul(x, w.wIh, { transB: true })); // (D, rows, 4H)
  const hp = xs.map((x) => Tensor.empty([D, x.shape[0], H]));
  const cp = xs.map((x) => Tensor.empty([D, x.shape[0], H]));
  const o = xs.map((x) => Tensor.empty([x.shape[0], D * H]));
  const h = Tensor.zeros([2, D, N, H]), c = Tensor.zeros([D, N, H]);
  for (let t = 0; t < T; t++) {
    stepDispatches([t, T - 1 - t], t % 2, s, (k, d0, nd, params) =>
      dispatch(GATES, [w.wF, w.bias, g[k], h, c, hp[k], cp[k], o[k]], params, Math.ceil((nd * Math.ceil(N / NB) * H) / WG)),
    );
  }
  h.dispose();
  return { y: o, saved: { g, hp, cp, c } };
}

/**
 * One layer backward from the gradient of its output chunks `dy` (rows, D*H) and what the
 * forward saved (consumed), its input chunks and weights. Returns the input's gradient chunks (rows, In) when `needDx`, and the weight
 * gradients stacked over directions: dWih (D, 4H, In), dWhh (D, 4H, H), db (D, 4H).
 */
export function lstmLayerBackward(dy: readonly Tensor[], saved: LayerSaved, xs: readonly Tensor[], w: LayerWeights, s: SeqShape, needDx: boolean) {
  const { N, T, H, D } = s;
  const { g, hp, cp, c } = saved;
  const dc = Tensor.zeros([D, N, H]);
  const dg = Tensor.zeros([2, D, N, H, 4]);
  for (let t = 0; t < T; t++) {
    stepDispatches([T - 1 - t, t], t % 2, s, (k, d0, nd, params) =>
      dispatch(GATES_BACKWARD, [dy[k], w.wB, cp[k], g[k], dg, c, dc], params, Math.ceil((nd * Math.ceil(N / NB) * H) / WG)),
    );
  }
  for (const t of [dc, dg, c]) t.dispose();
  const sum = (acc: Tensor | null, part: Tensor) => {
    if (!acc) return part;
    axpy(acc, part);
    part.dispose();
    return acc;
  };
  let dWih: Tensor | null = null, dWhh: Tensor | null = null, db: Tensor | null = null;
  const dxs: Tensor[] = [];
  for (let k = 0; k < g.length; k++) {
    const [rows, In] = xs[k].shape;
    dWih = sum(dWih, matmul(g[k], xs[k], { transA: true }));
    dWhh = sum(dWhh, matmul(g[k], hp[k], { transA: true }));
    db = sum(db, reduce('sum', g[k], D, rows, 4 * H, [D, 4 * H]).y);
    if (needDx) {
      const dxd = matmul(g[k], w.wIh); // (D, rows, In)
      dxs.push(D === 1 ? dxd : reduce('sum', dxd, 1, D, rows * In, [rows, In]).y);
      if (D > 1) dxd.dispose();
    }
    for (const t of [g[k], hp[k], cp[k]]) t.dispose();
  }
  return { dxs: needDx ? dxs : null, dWih: dWih!, dWhh: dWhh!, db: db! };
}
