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
// Per step: one matmul h_{t-1} W_hh^T batched over the D directions, then one gate kernel
// for both directions (two when their steps fall in different chunks).
// NOTE: gate order i, f, g, o; bias = b_ih + b_hh; zero initial states, as PyTorch.

import { gpu } from '../device.js';
import { dispatch, WG_INDEX } from '../runtime.js';
import { stridedCopy } from './layout.js';
import { Tensor } from '../tensor.js';
import { axpy, full } from './elementwise.js';
import { matmul } from './matmul.js';
import { reduce } from './reduce.js';

const WG = 64;

const ACT = /* wgsl */ `
fn sigm(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

// Both kernels: one invocation per (direction d in [d0, d0+nd), sample n, unit j); the
// row of direction d's step is (d == 0 ? t0 : t1) * N + n in its chunk.
const STEP_PARAMS = /* wgsl */ `
struct P { N: u32, H: u32, D: u32, d0: u32, nd: u32, rows: u32, t0: u32, t1: u32 }`;
const STEP_INDEX = /* wgsl */ `
  let i = wgIndex(wid, nwg) * ${WG}u + li;
  if (i >= p.nd * p.N * p.H) { return; }
  let H = p.H;
  let j = i % H;
  let n = (i / H) % p.N;
  let d = p.d0 + i / (p.N * H);
  let row = select(p.t1, p.t0, d == 0u) * p.N + n;
  let s = (d * p.N + n) * H + j;            // (D, N, H) states
  let q = (d * p.rows + row) * H + j;       // (D, rows, H) saved states
  let g0 = (d * p.rows + row) * 4u * H + j; // (D, rows, 4H) gates
  let r0 = (d * p.N + n) * 4u * H + j;      // (D, N, 4H) per-step gates
  let o = row * p.D * H + d * H + j;        // (rows, D*H) output`;

const GATES = /* wgsl */ `${WG_INDEX}${ACT}${STEP_PARAMS}
@group(0) @binding(0) var<storage, read> R: array<f32>;        // (D, N, 4H) h_{t-1} W_hh^T
@group(0) @binding(1) var<storage, read> BIAS: array<f32>;     // (D, 4H) b_ih + b_hh
@group(0) @binding(2) var<storage, read_write> G: array<f32>;  // (D, rows, 4H) x_t W_ih^T -> i, f, g, o
@group(0) @binding(3) var<storage, read_write> HS: array<f32>; // (D, N, H) h_{t-1} -> h_t
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
  let gi = sigm(G[g0] + R[r0] + BIAS[b0]);
  let gf = sigm(G[g0 + H] + R[r0 + H] + BIAS[b0 + H]);
  let gg = tanh_(G[g0 + 2u * H] + R[r0 + 2u * H] + BIAS[b0 + 2u * H]);
  let go = sigm(G[g0 + 3u * H] + R[r0 + 3u * H] + BIAS[b0 + 3u * H]);
  let cp = CS[s];
  let c = gf * cp + gi * gg;
  let h = go * tanh_(c);
  G[g0] = gi; G[g0 + H] = gf; G[g0 + 2u * H] = gg; G[g0 + 3u * H] = go;
  HP[q] = HS[s]; CP[q] = cp;
  HS[s] = h; CS[s] = c;
  O[o] = h;
}`;

const GATES_BACKWARD = /* wgsl */ `${WG_INDEX}${ACT}${STEP_PARAMS}
@group(0) @binding(0) var<storage, read> DO: array<f32>;       // (rows, D*H) dL/dh_t from the output
@group(0) @binding(1) var<storage, read> DHR: array<f32>;      // (D, N, H) dL/dh_t through the recurrence
@group(0) @binding(2) var<storage, read> CP: array<f32>;       // (D, rows, H) c_{t-1}
@group(0) @binding(3) var<storage, read_write> G: array<f32>;  // (D, rows, 4H) i, f, g, o -> their pre-activation grads
@group(0) @binding(4) var<storage, read_write> DG: array<f32>; // (D, N, 4H) the same grads, for dh_{t-1} = DG W_hh
@group(0) @binding(5) var<storage, read_write> CS: array<f32>; // (D, N, H) c_t -> c_{t-1}
@group(0) @binding(6) var<storage, read_write> DC: array<f32>; // (D, N, H) dL/dc_{t+1} f_{t+1} -> dL/dc_t f_t
@group(0) @binding(7) var<uniform> p: P;
// The gate grads of step t from dh_t = DO + DHR and dc_t = DC + dh_t o (1 - tanh^2 c_t)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  ${STEP_INDEX}
  let gi = G[g0]; let gf = G[g0 + H]; let gg = G[g0 + 2u * H]; let go = G[g0 + 3u * H];
  let tc = tanh_(CS[s]);
  let cp = CP[q];
  let dh = DO[o] + DHR[s];
  let dc = DC[s] + dh * go * (1.0 - tc * tc);
  let dai = dc * gg * gi * (1.0 - gi);
  let daf = dc * cp * gf * (1.0 - gf);
  let dag = dc * gi * (1.0 - gg * gg);
  let dao = dh * tc * go * (1.0 - go);
  G[g0] = dai; G[g0 + H] = daf; G[g0 + 2u * H] = dag; G[g0 + 3u * H] = dao;
  DG[r0] = dai; DG[r0 + H] = daf; DG[r0 + 2u * H] = dag; DG[r0 + 3u * H] = dao;
  CS[s] = cp;
  DC[s] = dc * gf;
}`;

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
  wHh: Tensor; // (D, 4H, H)
  bias: Tensor; // (D, 4H) b_ih + b_hh
}

/** What one layer's forward leaves for its backward (all chunked as above). */
export interface LayerSaved {
  g: Tensor[];
  hp: Tensor[];
  cp: Tensor[];
  c: Tensor; // (D, N, H) the final cell states
}

/** The bytes one binding may span: the adapter's limit, or a smaller one (tests). */
export function bindingLimit(limit?: number): number {
  const max = gpu().limits.maxStorageBufferBindingSize;
  return limit ? Math.min(limit, max) : max;
}

/** Steps per chunk so that a chunk of `width` floats per (step, sample) fits one binding. */
export function chunkSteps(N: number, T: number, width: number, limit?: number): number {
  const bytes = bindingLimit(limit);
  const tc = Math.min(T, Math.floor(bytes / (N * width * 4)));
  if (tc < 1) {
    throw new Error(`lstm: one time step of batch ${N} needs ${N * width * 4} bytes in one binding, above this adapter's ${bytes}: split the batch`);
  }
  return tc;
}

const chunkLen = (s: SeqShape, c: number) => Math.min(s.tc, s.T - c * s.tc);
const chunkCount = (s: SeqShape) => Math.ceil(s.T / s.tc);

/**
 * Copies between a batch-first (N, T, F) tensor and time-major chunks (len*N, F): element
 * (n, t, f) sits at (n*T + t)*F + f in the one, at ((t - t0)*N + n)*F + f in the other.
 * The batch-first side is bound in ranges of samples when it exceeds the binding limit.
 */
function transpose(bf: Tensor, chunks: readonly Tensor[], s: SeqShape, toTime: boolean, limit?: number): void {
  const [N, T, F] = bf.shape;
  const bfStrides = [T * F, F, 1], tmStrides = [F, N * F, 1], elements = Math.floor(bindingLimit(limit) / 4);
  chunks.forEach((chunk, c) => {
    const shape = [N, chunkLen(s, c), F], off = c * s.tc * F;
    if (toTime) stridedCopy(bf, chunk, shape, bfStrides, tmStrides, off, 0, elements);
    else stridedCopy(chunk, bf, shape, tmStrides, bfStrides, 0, off, elements);
  });
}

/** x (N, T, F) -> time-major chunks (len*N, F). */
export function toTimeChunks(x: Tensor, s: SeqShape, limit?: number): Tensor[] {
  const F = x.shape[2];
  const chunks = Array.from({ length: chunkCount(s) }, (_, c) => Tensor.empty([chunkLen(s, c) * s.N, F]));
  transpose(x, chunks, s, true, limit);
  return chunks;
}

/** Time-major chunks (len*N, F) -> y (N, T, F). */
export function fromTimeChunks(chunks: readonly Tensor[], s: SeqShape, limit?: number): Tensor {
  const y = Tensor.empty([s.N, s.T, chunks[0].shape[1]]);
  transpose(y, chunks, s, false, limit);
  return y;
}

/**
 * The dispatches of one step, whose direction d is at time ts[d]: one for all directions
 * when their rows share a chunk, else one per direction (a buffer may not be bound twice
 * for writing).
 */
function stepDispatches(ts: number[], s: SeqShape, run: (chunk: number, d0: number, nd: number, params: number[]) => void): void {
  const cs = ts.map((t) => Math.floor(t / s.tc));
  const tl = ts.map((t) => t % s.tc);
  const params = (c: number, d0: number, nd: number) => [s.N, s.H, s.D, d0, nd, chunkLen(s, c) * s.N, tl[0], tl[1] ?? 0];
  if (s.D === 1 || cs[0] === cs[1]) run(cs[0], 0, s.D, params(cs[0], 0, s.D));
  else for (let d = 0; d < s.D; d++) run(cs[d], d, 1, params(cs[d], d, 1));
}

/** One layer forward: xs are its input chunks (len*N, In); returns its output chunks and what backward needs. */
export function lstmLayerForward(xs: readonly Tensor[], w: LayerWeights, s: SeqShape): { o: Tensor[]; saved: LayerSaved } {
  const { N, T, H, D } = s;
  const g = xs.map((x) => matmul(x, w.wIh, { transB: true })); // (D, rows, 4H)
  const hp = xs.map((x) => Tensor.empty([D, x.shape[0], H]));
  const cp = xs.map((x) => Tensor.empty([D, x.shape[0], H]));
  const o = xs.map((x) => Tensor.empty([x.shape[0], D * H]));
  const h = full([D, N, H], 0), c = full([D, N, H], 0);
  for (let t = 0; t < T; t++) {
    const r = matmul(h, w.wHh, { transB: true }); // (D, N, 4H)
    stepDispatches([t, T - 1 - t], s, (k, d0, nd, params) =>
      dispatch(GATES, [r, w.bias, g[k], h, c, hp[k], cp[k], o[k]], params, Math.ceil((nd * N * H) / WG)),
    );
    r.dispose();
  }
  h.dispose();
  return { o, saved: { g, hp, cp, c } };
}

/**
 * One layer backward from the gradient of its output chunks `dO` (rows, D*H). Consumes
 * `saved`. Returns the input's gradient chunks (rows, In) when `needDx`, and the weight
 * gradients stacked over directions: dWih (D, 4H, In), dWhh (D, 4H, H), db (D, 4H).
 */
export function lstmLayerBackward(dO: readonly Tensor[], xs: readonly Tensor[], saved: LayerSaved, w: LayerWeights, s: SeqShape, needDx: boolean) {
  const { N, T, H, D } = s;
  const { g, hp, cp, c } = saved;
  const dc = full([D, N, H], 0);
  const dg = Tensor.empty([D, N, 4 * H]);
  let dhr = full([D, N, H], 0);
  for (let t = 0; t < T; t++) {
    stepDispatches([T - 1 - t, t], s, (k, d0, nd, params) =>
      dispatch(GATES_BACKWARD, [dO[k], dhr, cp[k], g[k], dg, c, dc], params, Math.ceil((nd * N * H) / WG)),
    );
    if (t < T - 1) {
      const next = matmul(dg, w.wHh); // (D, N, H) dh_{t-1} through the recurrence
      dhr.dispose();
      dhr = next;
    }
  }
  for (const t of [dhr, dc, dg, c]) t.dispose();
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
