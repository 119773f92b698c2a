// Fused scaled-dot-product attention (FlashAttention-style, no T x T matrix in memory):
//   forward   O = softmax(Q K^T * scale) V with an online softmax, saving L = logsumexp;
//   backward  two kernels that recompute P = exp(Q K^T * scale - L) row by row:
//             dQ (and D = rowsum(dO * O)) with one query row per invocation, then
//             dK, dV with one key row per invocation.
// Each invocation owns one row (its d-vector lives in vec4 registers) and streams the
// rows of the other side, either straight from storage (CPU adapters: the streamed row
// is the same for every lane of a workgroup, a cheap uniform load, and there are no
// barriers) or staged KB rows at a time in workgroup memory (GPUs).
// Rows are addressed through strides, so q, k, v may be (B, H, T, d) or (B, T, H*d) as
// Linear layers produce them: the head split and merge cost no copy.

import { gpu } from '../device.js';
import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor } from '../tensor.js';

/**
 * Block configuration: WG invocations per workgroup, each owning RQ rows (reusing every
 * streamed load RQ times); KB streamed rows staged per step in workgroup memory (0: read
 * straight from storage); `unroll`: constant loop bounds over d, so that a GPU compiler
 * unrolls them and keeps rows in registers (on lavapipe that makes LLVM compile for
 * tens of seconds: runtime bounds keep the rows in arrays).
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
const range = (n: number) => [...Array(n).keys()];

/** Block configuration for this adapter and head size. */
export function attentionConfig(d: number): AttentionConfig {
  if (gpu().isSoftware) return { WG: 8, RQ: 4, KB: 0, unroll: false };
  // two streamed rows of d floats per staged row must fit the workgroup memory
  const fit = Math.floor(gpu().limits.maxComputeWorkgroupStorageSize / (2 * 4 * (d + 2)));
  return { WG: 64, RQ: 1, KB: Math.min(32, 2 ** Math.floor(Math.log2(fit))), unroll: true };
}

/** WGSL pieces a kernel is written with; `c` is the vec4 index within a row. */
interface Gen {
  X: (f: (x: number) => string) => string; // repeated for each own row x
  FOR: (body: string) => string; // for each c
  own: (name: string, x: number) => string; // own row x of a binding, at c
  put: (name: string, x: number, value: string) => string;
  row: (name: string) => string; // the streamed row, at c
  scalar: (name: string) => string; // the streamed row's (BH, T) statistic
  arrays: (...names: string[]) => string; // per-row register arrays
}

interface Spec {
  own: 'q' | 'k'; // the side whose rows the invocations own
  bindings: string[]; // 'Q' (vec4 rows, read), 'L:s' (f32, read), 'O:w' (vec4, written), 'L:sw'
  streamed: string[]; // vec4-row buffers of the other side read for each streamed row j
  scalars: string[]; // (BH, T) f32 buffers of the other side read for each j
  init: (g: Gen) => string;
  step: (g: Gen) => string;
  store: (g: Gen, x: number) => string;
}

/** d % 4 == 0: vec4 bindings and offsets in vec4s; otherwise f32 bindings, vec4s gathered and masked. */
function code(spec: Spec, d: number, cfg: AttentionConfig): string {
  const D4 = Math.ceil(d / 4);
  const vec = d % 4 === 0;
  const { WG, RQ, KB } = cfg;
  const tiled = KB > 0;
  const [ownS, strS, ownT, strT] = spec.own === 'q' ? ['p.sq', 'p.sk', 'p.Tq', 'p.Tk'] : ['p.sk', 'p.sq', 'p.Tk', 'p.Tq'];
  const ld = (n: string, off: string) =>
    vec ? `${n}[${off} + c]` : `vec4<f32>(${range(4).map((e) => `select(0.0, ${n}[${off} + min(4u * c + ${e}u, ${d - 1}u)], 4u * c + ${e}u < ${d}u)`).join(', ')})`;
  const g: Gen = {
    X: (f) => range(RQ).map(f).join('\n    '),
    FOR: (body) => `for (var c = 0u; c < ${cfg.unroll ? `${D4}u` : 'p.D4'}; c++) { ${body} }`,
    own: (n, x) => ld(n, `ir${x}`),
    put: (n, x, value) =>
      vec ? `${n}[ir${x} + c] = ${value};` : `{ let v_ = ${value}; ${range(4).map((e) => `if (4u * c + ${e}u < ${d}u) { ${n}[ir${x} + 4u * c + ${e}u] = v_[${e}]; }`).join(' ')} }`,
    row: tiled ? (n) => `w${n}[jj * ${D4}u + c]` : (n) => ld(n, 'jr'),
    scalar: tiled ? (n) => `w${n}[jj]` : (n) => `${n}[jb + j]`,
    arrays: (...names) => g.X((x) => names.map((n) => `var ${n}${x}: array<vec4<f32>, ${D4}>;`).join(' ')),
  };
  const decl = (b: string, i: number) => {
    const [n, kind = ''] = b.split(':');
    const type = kind.includes('s') || !vec ? 'f32' : 'vec4<f32>';
    return `@group(0) @binding(${i}) var<storage, ${kind.includes('w') ? 'read_write' : 'read'}> ${n}: array<${type}>;`;
  };
  const workgroupVars = tiled
    ? [...spec.streamed.map((n) => `var<workgroup> w${n}: array<vec4<f32>, ${KB * D4}>;`), ...spec.scalars.map((n) => `var<workgroup> w${n}: array<f32, ${KB}>;`)].join('\n')
    : '';
  const loop = tiled
    ? /* wgsl */ `
  for (var j0 = 0u; j0 < ${strT}; j0 += ${KB}u) {
    for (var e = li; e < ${KB * D4}u; e += ${WG}u) {
      let jr = jb0 + min(j0 + e / ${D4}u, ${strT} - 1u) * ${strS}.z;
      let c = e % ${D4}u;
      ${spec.streamed.map((n) => `w${n}[e] = ${ld(n, 'jr')};`).join('\n      ')}
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
struct P { Tq: u32, Tk: u32, H: u32, D4: u32, sq: vec4<u32>, sk: vec4<u32>, c: f32, scale: f32 }
${spec.bindings.map(decl).join('\n')}
@group(0) @binding(${spec.bindings.length}) var<uniform> p: P;
${workgroupVars}
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }
// workgroup g: head bh = g / nb; invocation li owns rows r0 + x * ${WG}, x < ${RQ}, of block g % nb
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nb = (${ownT} + ${WG * RQ - 1}u) / ${WG * RQ}u;
  let g = wgIndex(wid, nwg);
  let bh = g / nb;
  let r0 = (g % nb) * ${WG * RQ}u + li;
  ${tiled ? '' : `if (r0 >= ${ownT}) { return; }`}
  let b = bh / p.H;
  let h = bh % p.H;
  let jb0 = b * ${strS}.x + h * ${strS}.y; // streamed row 0
  let jb = bh * ${strT}; // streamed row 0 of the (BH, T) statistics
  ${g.X((x) => `let ir${x} = b * ${ownS}.x + h * ${ownS}.y + min(r0 + ${x * WG}u, ${ownT} - 1u) * ${ownS}.z; let ib${x} = bh * ${ownT} + min(r0 + ${x * WG}u, ${ownT} - 1u);`)}
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
  ${g.FOR(g.X((x) => `q${x}[c] = ${g.own('Q', x)} * p.c; o${x}[c] = vec4<f32>(0.0);`))}`,
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
  store: (g, x) => `${g.FOR(g.put('O', x, `o${x}[c] / l${x}`))}
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
  ${g.FOR(g.X((x) => `q${x}[c] = ${g.own('Q', x)} * p.c; g${x}[c] = ${g.own('DO', x)}; dq${x}[c] = vec4<f32>(0.0); e${x} = fma(g${x}[c], ${g.own('O', x)}, e${x});`))}
  ${g.X((x) => `let D${x} = hsum(e${x}); let lb${x} = L[ib${x}] * ${LOG2E};`)}`,
  step: (g) => `${g.X((x) => `var t${x} = vec4<f32>(0.0); var u${x} = vec4<f32>(0.0);`)}
    ${g.FOR(`let k = ${g.row('K')}; let v = ${g.row('V')}; ${g.X((x) => `t${x} = fma(q${x}[c], k, t${x}); u${x} = fma(g${x}[c], v, u${x});`)}`)}
    ${g.X((x) => `let ds${x} = exp2(hsum(t${x}) - lb${x}) * (hsum(u${x}) - D${x});`)}
    ${g.FOR(`let k = ${g.row('K')}; ${g.X((x) => `dq${x}[c] = fma(vec4<f32>(ds${x}), k, dq${x}[c]);`)}`)}`,
  store: (g, x) => `${g.FOR(g.put('DQ', x, `dq${x}[c] * p.scale`))}
    DD[ib${x}] = D${x};`,
};

// dK (BH, Tk, d) = sum_i dS_ij q_i * scale;  dV (BH, Tk, d) = sum_i P_ij dO_i.
const gradKV: Spec = {
  own: 'k',
  bindings: ['Q', 'K', 'V', 'DO', 'L:s', 'DD:s', 'DK:w', 'DV:w'],
  streamed: ['Q', 'DO'],
  scalars: ['L', 'DD'],
  init: (g) => `${g.arrays('k', 'v', 'dk', 'dv')}
  ${g.FOR(g.X((x) => `k${x}[c] = ${g.own('K', x)} * p.c; v${x}[c] = ${g.own('V', x)}; dk${x}[c] = vec4<f32>(0.0); dv${x}[c] = vec4<f32>(0.0);`))}`,
  step: (g) => `${g.X((x) => `var t${x} = vec4<f32>(0.0); var u${x} = vec4<f32>(0.0);`)}
    ${g.FOR(`let q = ${g.row('Q')}; let o = ${g.row('DO')}; ${g.X((x) => `t${x} = fma(q, k${x}[c], t${x}); u${x} = fma(o, v${x}[c], u${x});`)}`)}
    let lb = ${g.scalar('L')} * ${LOG2E};
    let dd = ${g.scalar('DD')};
    ${g.X((x) => `let pr${x} = exp2(hsum(t${x}) - lb); let ds${x} = pr${x} * (hsum(u${x}) - dd);`)}
    ${g.FOR(`let q = ${g.row('Q')}; let o = ${g.row('DO')}; ${g.X((x) => `dv${x}[c] = fma(vec4<f32>(pr${x}), o, dv${x}[c]); dk${x}[c] = fma(vec4<f32>(ds${x}), q, dk${x}[c]);`)}`)}`,
  store: (g, x) => `${g.FOR(`${g.put('DK', x, `dk${x}[c] * p.scale`)} ${g.put('DV', x, `dv${x}[c]`)}`)}`,
};

const SPECS = { forward, gradQ, gradKV };
const codes = new Map<string, string>();

function launch(kind: keyof typeof SPECS, dims: AttentionDims, scale: number, bindings: Tensor[], cfg?: AttentionConfig): void {
  const { BH, H, Tq, Tk, d, layout } = dims;
  const c = cfg ?? attentionConfig(d);
  const key = `${kind}:${d}:${JSON.stringify(c)}`;
  let src = codes.get(key);
  if (!src) codes.set(key, (src = code(SPECS[kind], d, c)));
  const unit = d % 4 === 0 ? 4 : 1;
  // row strides (b, h, t) in binding elements
  const strides = (T: number) => (layout === 'bhtd' ? [H * T * d, T * d, d] : [T * H * d, d, H * d]).map((s) => s / unit);
  const T = kind === 'gradKV' ? Tk : Tq;
  const params = [Tq, Tk, H, Math.ceil(d / 4), ...strides(Tq), 0, ...strides(Tk), 0, fbits(scale * LOG2E), fbits(scale)];
  dispatch(src, bindings, params, BH * Math.ceil(T / (c.WG * c.RQ)));
}

/** O (like q) and L (BH, Tq) as `lseShape`: the forward pass. */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims, scale: number, lseShape: readonly number[], cfg?: AttentionConfig): { o: Tensor; lse: Tensor } {
  const o = Tensor.empty(q.shape);
  const lse = Tensor.empty(lseShape);
  if (o.size && dims.Tk) launch('forward', dims, scale, [q, k, v, o, lse], cfg);
  return { o, lse };
}

/** dQ, dK, dV (shaped like q, k, v) from the forward's inputs, output O, its gradient dO and L. */
export function attentionBackward(q: Tensor, k: Tensor, v: Tensor, o: Tensor, dO: Tensor, lse: Tensor, dims: AttentionDims, scale: number, cfg?: AttentionConfig): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const dq = Tensor.empty(q.shape), dk = Tensor.empty(k.shape), dv = Tensor.empty(v.shape);
  const D = Tensor.empty(lse.shape); // (BH, Tq) rowsum(dO * O)
  if (q.size && k.size) {
    launch('gradQ', dims, scale, [q, k, v, o, dO, lse, dq, D], cfg);
    launch('gradKV', dims, scale, [q, k, v, dO, lse, D, dk, dv], cfg);
  }
  D.dispose();
  return { dq, dk, dv };
}
