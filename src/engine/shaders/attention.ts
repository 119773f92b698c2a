// Fused scaled-dot-product attention (FlashAttention-style, no T x T matrix in memory):
//   forward   O = softmax(Q K^T * scale) V with an online softmax, saving L = logsumexp;
//   backward  two kernels that recompute P = exp(Q K^T * scale - L) row by row:
//             dQ (and D = rowsum(dO * O)) with query rows owned by invocations, then
//             dK, dV with key rows owned by invocations (no atomics needed).
// Each invocation owns RQ rows (vec4 arrays of d/4) and streams the rows of the other
// side, either straight from storage (CPU adapters: the streamed row is the same for
// every lane, a uniform load, and there are no barriers) or staged KB rows at a time in
// workgroup memory (GPUs). Rows are addressed through (b, h, t) strides, so q, k, v may
// be (B, H, T, d) or (B, T, H*d) as Linear layers produce them: the head split and
// merge cost no copy. d must be a multiple of 4 (the autograd op pads other sizes).

import { cpuKernels } from '../kernels.js';
import { gpu } from '../device.js';
import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor } from '../tensor.js';
import { range, kernelCode } from './codegen.js';

/**
 * Block configuration: WG invocations per workgroup, each owning RQ rows (so that every
 * streamed load serves RQ rows); KB streamed rows staged per step in workgroup memory
 * (0: read straight from storage); `unroll`: constant loop bounds over d, so that a GPU
 * compiler unrolls them and keeps rows in registers. On lavapipe unrolled rows make
 * LLVM compile for tens of seconds; with runtime bounds one pipeline serves every d <= 64.
 */
export interface AttentionConfig {
  WG: number;
  RQ: number;
  KB: number;
  unroll: boolean;
}

/** Where heads live: (B*H, T, d) or (B, T, H*d), rows addressed as b*sb + h*sh + t*st. */
export type AttentionLayout = 'bhtd' | 'bthd';

/** The sizes of one call: BH = batch * heads; q-side rows Tq, k-side rows Tk. */
export interface AttentionDims {
  BH: number;
  H: number;
  Tq: number;
  Tk: number;
  d: number;
  layout: AttentionLayout;
}

const LOG2E = 1.4426950408889634;

/** Block configuration for this adapter and head size. */
export function attentionConfig(d: number): AttentionConfig {
  if (cpuKernels()) return { WG: 16, RQ: 4, KB: 0, unroll: false };
  // two staged rows of d floats (plus two statistics) per streamed row must fit
  const fit = Math.floor(gpu().limits.maxComputeWorkgroupStorageSize / (4 * (2 * d + 2)));
  return { WG: 64, RQ: 1, KB: Math.min(32, 2 ** Math.floor(Math.log2(fit))), unroll: true };
}

/** WGSL pieces the kernels are written with; `c` indexes the vec4s of a row. */
interface Gen {
  X: (f: (x: number) => string) => string; // repeated for each owned row x
  FOR: (body: string) => string; // for each c
  row: (name: string) => string; // the streamed row's vec4 c
  scalar: (name: string) => string; // the streamed row's (BH, T) statistic
  arrays: (...names: string[]) => string; // a vec4 array per owned row
}

interface Spec {
  own: 'q' | 'k'; // the side whose rows the invocations own
  bindings: string[]; // 'Q' vec4 rows read, 'O:w' written; 'L:s' f32 read, 'L:sw' written
  streamed: string[]; // row buffers of the other side read for each streamed row
  scalars: string[]; // (BH, T) statistics of the other side read for each streamed row
  init: (g: Gen) => string; // reads owned row x at ir{x}, its statistic at ib{x}
  step: (g: Gen) => string;
  store: (g: Gen, x: number) => string;
}

/** vec4s per row array: d/4 when unrolled, else at least 16 so that one pipeline serves many d. */
const rowVec4s = (d: number, cfg: AttentionConfig) => (cfg.unroll ? d / 4 : Math.max(16, 2 ** Math.ceil(Math.log2(d / 4))));

function code(spec: Spec, D4: number, cfg: AttentionConfig): string {
  const { WG, RQ, KB } = cfg;
  const tiled = KB > 0;
  const [ownS, strS, ownT, strT] = spec.own === 'q' ? ['p.sq', 'p.sk', 'p.Tq', 'p.Tk'] : ['p.sk', 'p.sq', 'p.Tk', 'p.Tq'];
  const g: Gen = {
    X: (f) => range(RQ).map(f).join('\n    '),
    FOR: (body) => `for (var c = 0u; c < ${cfg.unroll ? `${D4}u` : 'p.D4'}; c++) { ${body} }`,
    row: tiled ? (n) => `w${n}[jj * ${D4}u + c]` : (n) => `${n}[jr + c]`,
    scalar: tiled ? (n) => `w${n}[jj]` : (n) => `${n}[jb + j]`,
    arrays: (...names) => g.X((x) => names.map((n) => `var ${n}${x}: array<vec4<f32>, ${D4}>;`).join(' ')),
  };
  const decl = (b: string, i: number) => {
    const [n, kind = ''] = b.split(':');
    return `@group(0) @binding(${i}) var<storage, ${kind.includes('w') ? 'read_write' : 'read'}> ${n}: array<${kind.includes('s') ? 'f32' : 'vec4<f32>'}>;`;
  };
  const workgroupVars = [
    ...spec.streamed.map((n) => `var<workgroup> w${n}: array<vec4<f32>, ${KB * D4}>;`),
    ...spec.scalars.map((n) => `var<workgroup> w${n}: array<f32, ${KB}>;`),
  ];
  const loop = tiled
    ? /* wgsl */ `
  for (var j0 = 0u; j0 < ${strT}; j0 += ${KB}u) {
    for (var e = li; e < ${KB}u * p.D4; e += ${WG}u) {
      let jr = jb0 + min(j0 + e / p.D4, ${strT} - 1u) * ${strS}.z + e % p.D4;
      let w = e / p.D4 * ${D4}u + e % p.D4;
      ${spec.streamed.map((n) => `w${n}[w] = ${n}[jr];`).join(' ')}
    }
    for (var e = li; e < ${KB}u; e += ${WG}u) {
      ${spec.scalars.map((n) => `w${n}[e] = ${n}[jb + min(j0 + e, ${strT} - 1u)];`).join(' ')}
    }
    workgroupBarrier();
    for (var jj = 0u; jj < min(${KB}u, ${strT} - j0); jj++) {
      ${spec.step(g)}
    }
    workgroupBarrier();
  }`
    : /* wgsl */ `
  for (var j = 0u; j < ${strT}; j++) {
    let jr = jb0 + j * ${strS}.z;
    ${spec.step(g)}
  }`;
  return /* wgsl */ `${WG_INDEX}
struct P { Tq: u32, Tk: u32, H: u32, D4: u32, sq: vec4<u32>, sk: vec4<u32>, c: f32, scale: f32, BH: u32 }
${spec.bindings.map(decl).join('\n')}
@group(0) @binding(${spec.bindings.length}) var<uniform> p: P;
${tiled ? workgroupVars.join('\n') : ''}
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }
// workgroup g: head bh = g / nb; invocation li owns rows r0 + x * ${WG} (x < ${RQ}) of row block g % nb
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nb = (${ownT} + ${WG * RQ - 1}u) / ${WG * RQ}u;
  let g = wgIndex(wid, nwg);
  let bh = g / nb;
  if (bh >= p.BH) { return; } // a folded dispatch's spare workgroups
  let r0 = (g % nb) * ${WG * RQ}u + li;
  ${tiled ? '' : `if (r0 >= ${ownT}) { return; }`}
  let b = bh / p.H;
  let h = bh % p.H;
  let jb0 = b * ${strS}.x + h * ${strS}.y; // streamed row 0
  let jb = bh * ${strT}; // its statistics
  ${g.X((x) => `let i${x} = min(r0 + ${x * WG}u, ${ownT} - 1u); let ir${x} = b * ${ownS}.x + h * ${ownS}.y + i${x} * ${ownS}.z; let ib${x} = bh * ${ownT} + i${x};`)}
  ${spec.init(g)}
  ${loop}
  ${g.X((x) => `if (r0 + ${x * WG}u < ${ownT}) {
    ${spec.store(g, x)}
  }`)}
}`;
}

// O (BH, Tq, d) = softmax(Q K^T * scale) V;  L (BH, Tq) = logsumexp_j(q_i . k_j * scale).
// NOTE: the running max m (log2 units) lags: the accumulators are rescaled only when a
// score exceeds it by more than 8 (a factor 256), so terms stay below 2^8 and l >= 1.
const forward: Spec = {
  own: 'q',
  bindings: ['Q', 'K', 'V', 'O:w', 'L:sw'],
  streamed: ['K', 'V'],
  scalars: [],
  init: (g) => `${g.arrays('q', 'o')}
  ${g.X((x) => `var m${x} = -3.0e38; var l${x} = 0.0;`)}
  ${g.FOR(g.X((x) => `q${x}[c] = Q[ir${x} + c] * p.c; o${x}[c] = vec4<f32>(0.0);`))}`,
  step: (g) => `${g.X((x) => `var t${x} = vec4<f32>(0.0);`)}
    ${g.FOR(`let k = ${g.row('K')}; ${g.X((x) => `t${x} = fma(q${x}[c], k, t${x});`)}`)}
    ${g.X((x) => `let s${x} = hsum(t${x});
    if (s${x} > m${x} + 8.0) {
      let a = exp2(m${x} - s${x});
      l${x} *= a;
      ${g.FOR(`o${x}[c] *= a;`)}
      m${x} = s${x};
    }
    let pr${x} = exp2(s${x} - m${x});
    l${x} += pr${x};`)}
    ${g.FOR(`let v = ${g.row('V')}; ${g.X((x) => `o${x}[c] = fma(vec4<f32>(pr${x}), v, o${x}[c]);`)}`)}`,
  store: (g, x) => `${g.FOR(`O[ir${x} + c] = o${x}[c] / l${x};`)}
    L[ib${x}] = (m${x} + log2(l${x})) / ${LOG2E};`,
};

// dQ (BH, Tq, d) = sum_j dS_ij k_j * scale, dS_ij = P_ij (dO_i . v_j - D_i);  D (BH, Tq) = rowsum(dO * O).
const gradQ: Spec = {
  own: 'q',
  bindings: ['Q', 'K', 'V', 'O', 'DO', 'L:s', 'DQ:w', 'DD:sw'],
  streamed: ['K', 'V'],
  scalars: [],
  init: (g) => `${g.arrays('q', 'g', 'dq')}
  ${g.X((x) => `var e${x} = vec4<f32>(0.0);`)}
  ${g.FOR(g.X((x) => `q${x}[c] = Q[ir${x} + c] * p.c; g${x}[c] = DO[ir${x} + c]; dq${x}[c] = vec4<f32>(0.0); e${x} = fma(g${x}[c], O[ir${x} + c], e${x});`))}
  ${g.X((x) => `let D${x} = hsum(e${x}); let lb${x} = L[ib${x}] * ${LOG2E};`)}`,
  step: (g) => `${g.X((x) => `var t${x} = vec4<f32>(0.0); var u${x} = vec4<f32>(0.0);`)}
    ${g.FOR(`let k = ${g.row('K')}; let v = ${g.row('V')}; ${g.X((x) => `t${x} = fma(q${x}[c], k, t${x}); u${x} = fma(g${x}[c], v, u${x});`)}`)}
    ${g.X((x) => `let ds${x} = exp2(hsum(t${x}) - lb${x}) * (hsum(u${x}) - D${x});`)}
    ${g.FOR(`let k = ${g.row('K')}; ${g.X((x) => `dq${x}[c] = fma(vec4<f32>(ds${x}), k, dq${x}[c]);`)}`)}`,
  store: (g, x) => `${g.FOR(`DQ[ir${x} + c] = dq${x}[c] * p.scale;`)}
    DD[ib${x}] = D${x};`,
};

// dK (BH, Tk, d) = sum_i dS_ij q_i * scale;  dV (BH, Tk, d) = sum_i P_ij dO_i.
const gradKV: Spec = {
  own: 'k',
  bindings: ['Q', 'K', 'V', 'DO', 'L:s', 'DD:s', 'DK:w', 'DV:w'],
  streamed: ['Q', 'DO'],
  scalars: ['L', 'DD'],
  init: (g) => `${g.arrays('k', 'v', 'dk', 'dv')}
  ${g.FOR(g.X((x) => `k${x}[c] = K[ir${x} + c] * p.c; v${x}[c] = V[ir${x} + c]; dk${x}[c] = vec4<f32>(0.0); dv${x}[c] = vec4<f32>(0.0);`))}`,
  step: (g) => `${g.X((x) => `var t${x} = vec4<f32>(0.0); var u${x} = vec4<f32>(0.0);`)}
    ${g.FOR(`let q = ${g.row('Q')}; let o = ${g.row('DO')}; ${g.X((x) => `t${x} = fma(q, k${x}[c], t${x}); u${x} = fma(o, v${x}[c], u${x});`)}`)}
    let lb = ${g.scalar('L')} * ${LOG2E};
    let dd = ${g.scalar('DD')};
    ${g.X((x) => `let pr${x} = exp2(hsum(t${x}) - lb); let ds${x} = pr${x} * (hsum(u${x}) - dd);`)}
    ${g.FOR(`let q = ${g.row('Q')}; let o = ${g.row('DO')}; ${g.X((x) => `dv${x}[c] = fma(vec4<f32>(pr${x}), o, dv${x}[c]); dk${x}[c] = fma(vec4<f32>(ds${x}), q, dk${x}[c]);`)}`)}`,
  store: (g, x) => `${g.FOR(`DK[ir${x} + c] = dk${x}[c] * p.scale; DV[ir${x} + c] = dv${x}[c];`)}`,
};

const SPECS = { forward, gradQ, gradKV };

function launch(kind: keyof typeof SPECS, dims: AttentionDims, scale: number, bindings: Tensor[], cfg?: AttentionConfig): void {
  const { BH, H, Tq, Tk, d, layout } = dims;
  if (d % 4 !== 0) throw new Error(`attention kernels need a head size that is a multiple of 4, got ${d}`);
  const c = cfg ?? attentionConfig(d);
  const D4 = rowVec4s(d, c);
  const src = kernelCode(['attention', kind, D4, c.WG, c.RQ, c.KB, c.unroll], () => code(SPECS[kind], D4, c));
  // row strides (b, h, t) in vec4s
  const strides = (T: number) => (layout === 'bhtd' ? [H * T * d, T * d, d] : [T * H * d, d, H * d]).map((s) => s / 4);
  const params = [Tq, Tk, H, d / 4, ...strides(Tq), 0, ...strides(Tk), 0, fbits(scale * LOG2E), fbits(scale), BH];
  dispatch(src, bindings, params, BH * Math.ceil((kind === 'gradKV' ? Tk : Tq) / (c.WG * c.RQ)));
}

/** What the attention forward saves for its backward. */
export type AttentionSaved = {
  /** (BH, Tq) with shape `lseShape`: the log-sum-exp of each query's scores. */
  lse: Tensor;
};

/** The forward pass: y (like q) and the row statistics. */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims, scale: number, lseShape: readonly number[], cfg?: AttentionConfig): { y: Tensor; saved: AttentionSaved } {
  const y = Tensor.empty(q.shape);
  const lse = Tensor.empty(lseShape);
  if (y.size && dims.Tk) launch('forward', dims, scale, [q, k, v, y, lse], cfg);
  return { y, saved: { lse } };
}

/** dq, dk, dv (shaped like q, k, v) from the output gradient dy, what the forward saved, its inputs and its output y. */
export function attentionBackward(dy: Tensor, { lse }: AttentionSaved, q: Tensor, k: Tensor, v: Tensor, y: Tensor, dims: AttentionDims, scale: number, cfg?: AttentionConfig): { dq: Tensor; dk: Tensor; dv: Tensor } {
  if (!q.size || !k.size) return { dq: Tensor.empty(q.shape), dk: Tensor.zeros(k.shape), dv: Tensor.zeros(v.shape) }; // no queries: no gradient
  const dq = Tensor.empty(q.shape), dk = Tensor.empty(k.shape), dv = Tensor.empty(v.shape);
  const D = Tensor.empty(lse.shape); // (BH, Tq) rowsum(dO * O)
  launch('gradQ', dims, scale, [q, k, v, y, dy, lse, dq, D], cfg);
  launch('gradKV', dims, scale, [q, k, v, dy, lse, D, dk, dv], cfg);
  D.dispose();
  return { dq, dk, dv };
}
