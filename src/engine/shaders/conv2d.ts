// conv2d as implicit GEMM (no im2col buffer): forward, input gradient and weight
// gradient, PyTorch semantics (NCHW, weights (O,C,KH,KW), OH = floor((H+2PH-KH)/SH)+1).
//
// Register blocking without workgroup memory (barriers are costly on CPU adapters): a
// lane computes TO channels x TP pixels of one output row. The stretch of input row it
// needs for one (channel, kernel row) is loaded once into registers ((TP-1)*SW+KW
// values), then reused by every tap and channel. The channel block comes from the
// workgroup id, so the weight loads are the same for every lane, and the weights are
// first regrouped so that those are vec4 loads. KW, SW and PW are compile-time (a model
// has a handful of kernel shapes); the other sizes are uniforms. Batches whose tensors
// exceed one binding are split into several dispatches.
//
// On lavapipe, every storage load is a per-lane bounds-checked scalar access (even a
// uniform one costs several instructions), all loops run under execution masks, and
// more than ~64 live floats spill: what pays is few loads per FMA (vec4 loads,
// windows reused across taps), no early return, no division inside loops.

import { broadcastSubgroup, cpuKernels } from '../kernels.js';
import { splitToFit } from '../config.js';
import { dispatch, fold, WG_INDEX, type Binding } from '../runtime.js';
import { Tensor, pair, type Pair, type Shape } from '../tensor.js';
import { reduce } from './reduce.js';
import { enableSubgroups, laneValues, shareAcross, subgroupParam } from './subgroup.js';
import { C4, range, kernelCode } from './codegen.js';

export interface Conv2dOpts {
  stride?: Pair;
  padding?: Pair;
}

/** Every size of one convolution. */
export interface ConvGeom {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number;
  SH: number; SW: number; PH: number; PW: number;
  OH: number; OW: number;
}

export function convGeom(xShape: Shape, wShape: Shape, opts: Conv2dOpts = {}): ConvGeom {
  if (xShape.length !== 4 || wShape.length !== 4) throw new Error(`conv2d needs x (N,C,H,W) and w (O,C,KH,KW), got [${xShape}] and [${wShape}]`);
  const [N, C, H, W] = xShape, [O, Cw, KH, KW] = wShape;
  const [SH, SW] = pair(opts.stride ?? 1), [PH, PW] = pair(opts.padding ?? 0);
  if (C !== Cw) throw new Error(`conv2d: x has ${C} channels, w expects ${Cw}`);
  if (!(SH >= 1 && SW >= 1 && PH >= 0 && PW >= 0) || ![SH, SW, PH, PW].every(Number.isInteger)) throw new Error(`conv2d: bad stride [${SH},${SW}] or padding [${PH},${PW}]`);
  const OH = Math.floor((H + 2 * PH - KH) / SH) + 1, OW = Math.floor((W + 2 * PW - KW) / SW) + 1;
  if (OH < 1 || OW < 1) throw new Error(`conv2d: kernel ${KH}x${KW} larger than the padded input ${H + 2 * PH}x${W + 2 * PW}`);
  return { N, C, H, W, O, KH, KW, SH, SW, PH, PW, OH, OW };
}

/**
 * Block shape: a lane computes TO channels x TP pixels (TP a multiple of 4); WG lanes
 * make a workgroup.
 */
export interface ConvConfig {
  TO: number;
  TP: number;
  WG: number;
  /** The subgroup size, to read the values that are the same for every lane (forward, dx: the weights; dw: DY) one per lane and share them by broadcast (CPU adapters); 0: off. */
  sg?: number;
}

/**
 * The block for one kernel of a convolution (forward, input or weight gradient).
 * Measured on lavapipe (bench/NOTES.md, conv2d): 4 channels x 16 pixels for forward
 * and dx (8 x 8 with subgroups), 8 x 4 for dw (whose accumulators are TO x KW scalars and whose lanes are
 * (c, kh)); more accumulators spill. Channels are split into equal blocks (6 = 2 x 3,
 * not 4 + 2) and TP shrinks when a row is short, so that little work is padding.
 */
export function convConfig(kind: 'fwd' | 'dx' | 'dw', g: ConvGeom): ConvConfig {
  const soft = cpuKernels();
  // The weights of a block are the same for every lane: on CPU adapters such loads cost
  // as much as loads that differ per lane (bench/NOTES.md, matmul), so with subgroups
  // each lane loads a few and subgroupBroadcast shares them, and 8 x 8 blocks (more
  // channels, fewer pixels: less window to load per FMA) measure best.
  const sgSize = broadcastSubgroup();
  const sg = sgSize && (kind === 'dw' ? 8 : 64) % sgSize === 0 ? sgSize : 0;
  const channels = kind === 'dx' ? g.C : g.O;
  const maxTO = !soft ? 4 : kind === 'dw' ? Math.max(1, Math.min(8, Math.floor(64 / g.KW))) : sg ? 8 : 4;
  const TO = Math.ceil(channels / Math.ceil(channels / maxTO));
  const width = kind === 'dx' ? Math.ceil(g.W / g.SW) : g.OW;
  const maxTP = !soft ? 4 : kind === 'dw' ? 4 : sg ? 8 : 16;
  const TP = [16, 8, 4].find((tp) => tp <= maxTP && Math.ceil(width / tp) * tp <= 1.15 * width) ?? 4;
  // dw's lanes are (c, kh): a first layer has few, and idle lanes would redo the last one
  const WG = kind === 'dw' ? Math.min(64, 2 ** Math.ceil(Math.log2(Math.max(8, g.C * g.KH)))) : 64;
  return { TO, TP, WG, sg };
}


const PARAMS = /* wgsl */ `
struct P { N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, SH: u32, PH: u32, lanes: u32, rows: u32, z0: u32 }`;

/** Storage bindings in order (`name4: array<vec4<f32>>` when vec), the last one written, then the params. */
function header(bufs: [name: string, vec: boolean][]): string {
  const b = bufs.map(([n, vec], i) =>
    `@group(0) @binding(${i}) var<storage, ${n === 'OUT' ? 'read_write' : 'read'}> ${n}${vec ? '4: array<vec4<f32>>' : ': array<f32>'};`);
  return `${PARAMS}\n${b.join('\n')}\n@group(0) @binding(${b.length}) var<uniform> p: P;`;
}

/**
 * The entry point. `lane` counts over x and y (folded) or over x only; lanes past the
 * end redo the last one and only skip their stores (an early return would make all
 * control flow divergent, and on lavapipe every access masked).
 */
const MAIN = (wg: number, lanes: string, folded = true, prelude = '', sg = 0) => /* wgsl */ `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32${subgroupParam(sg)}) {${prelude}
  let lane0 = (wid.x${folded ? ' + wid.y * nwg.x' : ''}) * ${wg}u + li;
  let live = lane0 < ${lanes};
  let lane = min(lane0, ${lanes} - 1u);`;

const xn = (e: number) => `x${e < 0 ? `m${-e}` : e}`;

/**
 * Loads the part of one input row that a block reads: `x{e}` = ARR[row + base + e] for
 * each offset e, zero outside [0, limit) (the padding) or when !rowOk; indices are
 * clamped so that no load leaves the row. With `vec` (row, base and limit multiples of
 * 4) whole vec4s are loaded: on CPU adapters each load is a per-lane bounds-checked
 * access, and they, not the FMAs, are the cost.
 */
function loadWindow(arr: string, vec: boolean, row: string, base: string, limit: string, rowOk: string, offsets: number[]): string {
  const ok = (e: number) => `${rowOk} && u32(${base} + ${e}) < ${limit}`;
  if (!vec) return offsets.map((e) => `let ${xn(e)} = select(0.0, ${arr}[${row} + min(u32(${base} + ${e}), ${limit} - 1u)], ${ok(e)});`).join('\n      ');
  const g4 = (e: number) => Math.floor(e / 4);
  const gn = (g: number) => `${arr}_${g < 0 ? `m${-g}` : g}`;
  return [
    ...[...new Set(offsets.map(g4))].map((g) => `let ${gn(g)} = select(vec4<f32>(0.0), ${arr}4[(${row} + min(u32(${base} + ${4 * g}), ${limit} - 4u)) / 4u], ${ok(4 * g)});`),
    ...offsets.map((e) => `let ${xn(e)} = ${gn(g4(e))}.${C4[e - 4 * g4(e)]};`),
  ].join('\n      ');
}

/** The distinct offsets at(j, t) for TP pixels and `taps` taps. */
const offsetsOf = (TP: number, taps: number, at: (j: number, t: number) => number) => [...new Set(range(TP).flatMap((j) => range(taps).map((t) => at(j, t))))];

/** acc{i}_{q} += w{i}_{t} * vec4(x[at(4q..4q+3, t)]) for TO channels, TP pixels, `taps` taps. */
function fmaBlock(TO: number, TP: number, taps: number, at: (j: number, t: number) => number): string {
  const lines: string[] = [];
  for (const t of range(taps)) for (const q of range(TP / 4)) {
    lines.push(`let v${q}_${t} = vec4<f32>(${range(4).map((k) => xn(at(4 * q + k, t))).join(', ')});`);
    for (const i of range(TO)) lines.push(`a${i}_${q} = fma(vec4<f32>(w${i}_${t}), v${q}_${t}, a${i}_${q});`);
  }
  return lines.join('\n      ');
}

const accDecl = (TO: number, TP: number) => range(TO).map((i) => range(TP / 4).map((q) => `var a${i}_${q} = vec4<f32>(0.0);`).join(' ')).join('\n  ');

/**
 * Stores acc{i}_{q} (through f: bias, relu) to OUT[row(i) + col(j)] for channels
 * ch(i) < chLimit and pixels with colOk(j); with vec, as vec4s (col(4q) a multiple of 4).
 */
function storeBlock(TO: number, TP: number, vec: boolean, ch: (i: number) => string, chLimit: string, row: (i: number) => string, col: (j: number) => string, colOk: (j: number) => string, f: (v: string, i: number) => string = (v) => v): string {
  return range(TO).map((i) => {
    const st = vec
      ? range(TP / 4).map((q) => `if (${colOk(4 * q)}) { OUT4[(${row(i)} + ${col(4 * q)}) / 4u] = ${f(`a${i}_${q}`, i)}; }`)
      : range(TP).map((j) => `if (${colOk(j)}) { OUT[${row(i)} + ${col(j)}] = ${f(`a${i}_${j >> 2}`, i)}.${C4[j & 3]}; }`);
    return `if (live && ${ch(i)} < ${chLimit}) {\n    ${st.join('\n    ')}\n  }`;
  }).join('\n  ');
}

/**
 * `w{i}_{t}` for TO channels and `taps` taps from the packed weights (see packWeights);
 * `tap(t)` is the packed row of tap t (a WGSL u32 expression), `ok(t)` whether it exists.
 * Without `sg`: ceil(TO/4) vec4 loads per tap, the same for every lane. With `sg`: the
 * taps x 4*ceil(TO/4) values are numbered f = t*4*ceil(TO/4) + i; lane l of each subgroup
 * loads f = l, l + sg, ... (scalar WP) and w{i}_{t} is broadcast from lane f % sg.
 */
function loadWeights(TO: number, taps: number, tap: (t: string) => string, ok?: (t: string) => string, sg = 0): string {
  const T4 = Math.ceil(TO / 4);
  if (sg) {
    const F = 4 * T4;
    const w = shareAcross(sg, taps * F, 'wl', (f) => {
      const t = `min(${f} / ${F}u, ${taps - 1}u)`;
      const load = `WP[(${tap(t)}) * ${F}u + ${f} % ${F}u]`;
      return ok ? `select(0.0, ${load}, ${ok(t)})` : load;
    });
    return [...w.loads, ...range(taps).flatMap((t) => range(TO).map((i) => `let w${i}_${t} = ${w.at(t * F + i)};`))].join('\n      ');
  }
  return range(taps).map((t) => [
    ...range(T4).map((g) => {
      const load = `WP4[(${tap(`${t}u`)}) * ${T4}u + ${g}u]`;
      return `let wv${t}_${g} = ${ok ? `select(vec4<f32>(0.0), ${load}, ${ok(`${t}u`)})` : load};`;
    }),
    ...range(TO).map((i) => `let w${i}_${t} = wv${t}_${i >> 2}.${C4[i & 3]};`),
  ].join(' ')).join('\n      ');
}

/** A kernel with one lane per `count` item: `j` is the lane; reads IN, writes OUT. */
const flatKernel = (fields: string, comment: string, count: string, body: string, prelude = '') => /* wgsl */ `${WG_INDEX}
struct P { ${fields} }
@group(0) @binding(0) var<storage, read> IN: array<f32>;${prelude}
@group(0) @binding(1) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
// ${comment}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let j = wgIndex(wid, nwg) * 64u + li;
  if (j >= ${count}) { return; }
  ${body}
}`;

/** WGSL: element j of weights IN viewed as (P, Q, R) and packed as (Q/T, P, R, 4*T4) [blk, a, r, i] = IN [a, blk*T + i, r], zero past T or Q. */
const PACKED = /* wgsl */ `
fn packed(j: u32, P: u32, Q: u32, R: u32, T: u32, T4: u32) -> f32 {
  let i = j % (4u * T4);
  let t = j / (4u * T4);
  let r = t % R;
  let a = (t / R) % P;
  let q = t / (R * P) * T + i;
  return select(0.0, IN[(a * Q + min(q, Q - 1u)) * R + r], i < T && q < Q);
}`;

const PACK = flatKernel('P: u32, Q: u32, R: u32, T: u32, T4: u32, n: u32',
  'OUT (n) = IN (P, Q, R) packed in blocks of T along Q', 'p.n', `
  OUT[j] = packed(j, p.P, p.Q, p.R, p.T, p.T4);`, PACKED);

const PACK_BOTH = flatKernel('O: u32, C: u32, KK: u32, TF: u32, TF4: u32, nF: u32, TD: u32, TD4: u32, n: u32',
  'OUT = w (O, C, KK) packed for the forward (blocks of TF along O) in [0, nF), then for dx (blocks of TD along C)', 'p.n', `
  if (j < p.nF) { OUT[j] = packed(j, 1u, p.O, p.C * p.KK, p.TF, p.TF4); }
  else { OUT[j] = packed(j - p.nF, p.O, p.C, p.KK, p.TD, p.TD4); }`, PACKED);

/** Floats of weights (P, Q, R) packed in blocks of T along Q (padded to whole vec4s). */
const packedSize = (P: number, Q: number, R: number, T: number) => Math.ceil(Q / T) * P * R * 4 * Math.ceil(T / 4);

/**
 * Weights regrouped so that a block of TO channels is contiguous (padded to whole
 * vec4s): a kernel reads a tap's channels with vec4 loads. The forward takes blocks along
 * O of the (1, O, C*KH*KW) view, dx blocks along C of the (O, C, KH*KW) view. A kept
 * weight (a parameter) keeps both layouts, made in one dispatch, until its version
 * changes (an optimiser step, a write); others are packed per call. Call `done` after use.
 */
function packWeights(w: Tensor, g: ConvGeom, kind: 'fwd' | 'dx', TO: number): { wp: Binding; done: () => void } {
  const [O, C, KK] = [g.O, g.C, g.KH * g.KW];
  if (!w.kept) {
    const [P, Q, R] = kind === 'fwd' ? [1, O, C * KK] : [O, C, KK];
    const n = packedSize(P, Q, R, TO);
    const wp = Tensor.empty([n]);
    dispatch(PACK, [w, wp], [P, Q, R, TO, Math.ceil(TO / 4), n], Math.ceil(n / 64));
    return { wp, done: () => wp.dispose() };
  }
  const TF = kind === 'fwd' ? TO : convConfig('fwd', g).TO;
  const TD = kind === 'dx' ? TO : convConfig('dx', g).TO;
  const nF = Math.ceil(packedSize(1, O, C * KK, TF) / 64) * 64; // the dx part starts aligned
  const nD = packedSize(O, C, KK, TD);
  const both = w.derive(`conv2d.pack ${TF} ${TD}`, () => {
    const t = Tensor.empty([nF + nD]);
    dispatch(PACK_BOTH, [w, t], [O, C, KK, TF, Math.ceil(TF / 4), nF, TD, Math.ceil(TD / 4), nF + nD], Math.ceil((nF + nD) / 64));
    return t;
  });
  const wp = kind === 'fwd' ? both.bytes(0, packedSize(1, O, C * KK, TF) * 4) : both.bytes(nF * 4, nD * 4);
  return { wp, done: () => {} };
}

interface Variant extends ConvConfig {
  KW: number;
  SW: number;
  PW: number;
  vecIn: boolean; // the windowed operand's rows are whole vec4s
  vecOut: boolean; // the output's rows (forward, dx) or DY's rows (dw) are whole vec4s
  bias?: boolean;
  relu?: boolean;
}

function forwardCode(v: Variant): string {
  const { TO, TP, KW, SW, PW } = v;
  const at = (j: number, t: number) => j * SW + t - PW;
  const post = (val: string, i: number) => {
    let s = v.bias ? `(${val} + vec4<f32>(B[o0 + ${i}u]))` : val;
    if (v.relu) s = `max(${s}, vec4<f32>(0.0))`;
    return s;
  };
  return /* wgsl */ `${enableSubgroups(v.sg ?? 0)}${header([['X', v.vecIn], ['WP', !v.sg], ['OUT', v.vecOut], ...(v.bias ? [['B', false] as [string, boolean]] : [])])}
// Y (N,O,OH,OW) = X (N,C,H,W) * W (O,C,KH,${KW}) [+ B (O)]${v.relu ? ', then relu' : ''}; stride (SH,${SW}), padding (PH,${PW}).
// Lane: TO=${TO} channels from o0 (workgroup z) x TP=${TP} pixels from ow0 of row (n, oh).
${MAIN(v.WG, 'p.lanes', true, '', v.sg)}
  let nb = (p.OW + ${TP - 1}u) / ${TP}u;
  let ow0 = (lane % nb) * ${TP}u;
  let oh = (lane / nb) % p.OH;
  let n = lane / nb / p.OH;
  let o0 = wid.z * ${TO}u;
  let iy = i32(oh * p.SH) - i32(p.PH);
  let bx = i32(ow0 * ${SW}u);
  let wb = wid.z * p.C * p.KH * ${KW}u;
  ${accDecl(TO, TP)}
  for (var c = 0u; c < p.C; c++) {
    for (var kh = 0u; kh < p.KH; kh++) {
      let ih = u32(iy + i32(kh));
      let row = ((n * p.C + c) * p.H + min(ih, p.H - 1u)) * p.W;
      ${loadWindow('X', v.vecIn, 'row', 'bx', 'p.W', 'ih < p.H', offsetsOf(TP, KW, at))}
      let wk = wb + (c * p.KH + kh) * ${KW}u;
      ${loadWeights(TO, KW, (t) => `wk + ${t}`, undefined, v.sg)}
      ${fmaBlock(TO, TP, KW, at)}
    }
  }
  let yb = (n * p.O + o0) * p.OH + oh;
  ${storeBlock(TO, TP, v.vecOut, (i) => `o0 + ${i}u`, 'p.O', (i) => `(yb + ${i}u * p.OH) * p.OW + ow0`, (j) => `${j}u`, (j) => `ow0 + ${j}u < p.OW`, post)}
}`;
}

/**
 * Input gradient as a transposed convolution. Pixels whose (ih+PH, iw+PW) have the
 * residues (rh, rw) modulo the stride receive the taps kh = rh + th*SH, kw = rw + tw*SW
 * from consecutive output positions: one stride-1 correlation per residue class.
 */
function inputGradCode(v: Variant): string {
  const { TO: TC, TP, KW, SW, PW } = v;
  const TW = Math.ceil(KW / SW); // taps along w per residue class
  const shift = SW === 1 ? PW : 0; // keeps the window base a multiple of 4 at stride 1
  const at = (j: number, t: number) => shift + j - t;
  return /* wgsl */ `${enableSubgroups(v.sg ?? 0)}${header([['DY', v.vecIn], ['WP', !v.sg], ['OUT', v.vecOut]])}
// DX (N,C,H,W) = DY (N,O,OH,OW) *ᵀ W (O,C,KH,${KW}); stride (SH,${SW}), padding (PH,${PW}).
// Workgroup z = channel block * SH*SW + residue class; lane: TC=${TC} channels from c0 x
// TP=${TP} pixels iw0 + j*${SW} of one row ih of that class.
${MAIN(v.WG, 'p.N * nh * nb', true, `
  let nph = p.SH * ${SW}u;
  let rh = (wid.z % nph) / ${SW}u;
  let rw = wid.z % ${SW}u;
  let c0 = (wid.z / nph) * ${TC}u;
  let ihs = (rh + p.SH - p.PH % p.SH) % p.SH; // the first ih with (ih + PH) % SH == rh
  let iws = (rw + ${SW}u - ${PW % SW}u) % ${SW}u;
  let nh = (p.H + p.SH - 1u - ihs) / p.SH; // rows of this class
  let nb = ((p.W + ${SW - 1}u - iws) / ${SW}u + ${TP - 1}u) / ${TP}u; // blocks per row`, v.sg)}
  let ih = ihs + ((lane / nb) % nh) * p.SH;
  let n = lane / nb / nh;
  let iw0 = iws + (lane % nb) * ${TP * SW}u;
  let ow0 = i32((iw0 + ${PW}u - rw) / ${SW}u) - ${shift};
  let ohb = i32((ih + p.PH - rh) / p.SH);
  let nth = select(0u, (p.KH + p.SH - 1u - rh) / p.SH, rw < ${KW}u); // taps along h of this class (none when it has none along w)
  let KK = p.KH * ${KW}u;
  ${accDecl(TC, TP)}
  for (var o = 0u; o < p.O; o++) {
    let wo = ((wid.z / nph) * p.O + o) * KK;
    for (var th = 0u; th < nth; th++) {
      let oh = u32(ohb) - th;
      let row = ((n * p.O + o) * p.OH + min(oh, p.OH - 1u)) * p.OW;
      ${loadWindow('DY', v.vecIn, 'row', 'ow0', 'p.OW', 'oh < p.OH', offsetsOf(TP, TW, at))}
      let wk = wo + (rh + th * p.SH) * ${KW}u;
      ${loadWeights(TC, TW, (t) => `wk + min(rw + (${t}) * ${SW}u, ${KW - 1}u)`, (t) => `rw + (${t}) * ${SW}u < ${KW}u`, v.sg)}
      ${fmaBlock(TC, TP, TW, at)}
    }
  }
  let xb = (n * p.C + c0) * p.H + ih;
  ${storeBlock(TC, TP, v.vecOut, (i) => `c0 + ${i}u`, 'p.C', (i) => `(xb + ${i}u * p.H) * p.W + iw0`, (j) => `${j * SW}u`, (j) => `iw0 + ${j * SW}u < p.W`)}
}`;
}

/**
 * Weight gradient, split over chunks of the N*OH output rows (partial sums, reduced
 * afterwards). Lane = (c, kh); the channel block, hence every DY load, is uniform.
 */
function weightGradCode(v: Variant): string {
  const { TO, TP, KW, SW, PW } = v;
  const at = (j: number, t: number) => j * SW + t - PW;
  const acc = range(TO).flatMap((i) => range(KW).map((t) => `a${i}_${t}`));
  // per 4 pixels: TO vec4 loads of DY, then 4 x TO x KW FMAs
  const dy = (i: number, q: number) => v.vecOut
    ? `select(vec4<f32>(0.0), DY4[(db${i} + ow0) / 4u + ${q}u], ow0 + ${4 * q}u < p.OW)`
    : `vec4<f32>(${range(4).map((k) => `select(0.0, DY[db${i} + min(ow0 + ${4 * q + k}u, p.OW - 1u)], ow0 + ${4 * q + k}u < p.OW)`).join(', ')})`;
  // With sg: the 4*TO values of a quad, f = 4*i + k (channel i, pixel k), shared across
  // the subgroup (scalar DY; the row base of round r's channel is dbl{r}, set per row).
  const sg = v.sg ?? 0;
  const perQuad = range(TP / 4).map((q) => {
    const d = sg ? shareAcross(sg, 4 * TO, `dl${q}_`, (f, r) => {
      const col = `ow0 + ${4 * q}u + ${f} % 4u`;
      return `select(0.0, DY[dbl${r} + min(${col}, p.OW - 1u)], ${col} < p.OW)`;
    }) : null;
    return [
      ...(d ? d.loads : []),
      range(TO).map((i) => `let d${i}_${q} = ${d ? `vec4<f32>(${range(4).map((k) => d.at(4 * i + k)).join(', ')})` : dy(i, q)};`).join(' '),
      ...range(4).map((k) => range(TO).map((i) => range(KW).map((t) => `a${i}_${t} = fma(d${i}_${q}.${C4[k]}, ${xn(at(4 * q + k, t))}, a${i}_${t});`).join(' ')).join('\n      ')),
    ].join('\n      ');
  });
  return /* wgsl */ `${enableSubgroups(sg)}${header([['DY', v.vecOut && !sg], ['X', v.vecIn], ['OUT', false]])}
// DW[s] (O,C,KH,${KW}) = sum over rows (n, oh) of chunk s and over ow of DY (N,O,OH,OW) [n,o,oh,ow] * X (N,C,H,W) [n,c,oh*SH-PH+kh,ow*${SW}-${PW}+kw].
// Workgroup y = block of TO=${TO} channels o, z = chunk of p.rows rows; lane = (c, kh).
${MAIN(v.WG, 'p.C * p.KH', false, '', sg)}
  let c = lane / p.KH;
  let kh = lane % p.KH;
  let o0 = wid.y * ${TO}u;
  let r0 = wid.z * p.rows;
  let r1 = min(r0 + p.rows, p.N * p.OH);
  ${acc.map((a) => `var ${a} = 0.0;`).join(' ')}
  var n = r0 / p.OH;
  var oh = r0 % p.OH;
  for (var r = r0; r < r1; r++) {
    let ih = oh * p.SH + kh - p.PH;
    let row = ((n * p.C + c) * p.H + min(ih, p.H - 1u)) * p.W;
    ${sg
      ? laneValues(sg, 4 * TO).map((f, r) => `let dbl${r} = ((n * p.O + min(o0 + min(${f} / 4u, ${TO - 1}u), p.O - 1u)) * p.OH + oh) * p.OW;`).join(' ')
      : range(TO).map((i) => `let db${i} = ((n * p.O + min(o0 + ${i}u, p.O - 1u)) * p.OH + oh) * p.OW;`).join(' ')}
    for (var ow0 = 0u; ow0 < p.OW; ow0 += ${TP}u) {
      let bx = i32(ow0 * ${SW}u);
      ${loadWindow('X', v.vecIn, 'row', 'bx', 'p.W', 'ih < p.H', offsetsOf(TP, KW, at))}
      ${perQuad.join('\n      ')}
    }
    oh++;
    if (oh == p.OH) { oh = 0u; n++; }
  }
  let wb = (((p.z0 + wid.z) * p.O + o0) * p.C + c) * p.KH + kh;
  ${range(TO).map((i) => `if (live && o0 + ${i}u < p.O) { ${range(KW).map((t) => `OUT[(wb + ${i}u * p.C * p.KH) * ${KW}u + ${t}u] = a${i}_${t};`).join(' ')} }`).join('\n  ')}
}`;
}

/** The cache key of a variant: its family, then every field. */
const key = (kind: string, v: Variant) => [kind, v.TO, v.TP, v.WG, v.sg, v.KW, v.SW, v.PW, v.vecIn, v.vecOut, v.bias, v.relu];

/** The kernel params for N samples of geometry g. (No object spreads on this path: `{ ...g, N }` costs V8 about a microsecond.) */
const params = (g: ConvGeom, N: number, lanes: number, rows = 0, z0 = 0) => [N, g.C, g.H, g.W, g.O, g.OH, g.OW, g.KH, g.SH, g.PH, lanes, rows, z0];
const variant = ({ TO, TP, WG, sg }: ConvConfig, g: ConvGeom, vecIn: boolean, vecOut: boolean, bias = false, relu = false): Variant => ({ TO, TP, WG, sg: sg ?? 0, KW: g.KW, SW: g.SW, PW: g.PW, vecIn, vecOut, bias, relu });

/** Workgroups (x, y) covering `lanes`, and z. */
function groups(lanes: number, wg: number, z: number): [number, number, number] {
  const [x, y] = fold(Math.max(1, Math.ceil(lanes / wg)));
  if (z > 65535) throw new Error(`conv2d: ${z} workgroups along z is too many`);
  return [x, y, z];
}

/**
 * Splits the batch into chunks [n0, n) whose slices of the per-sample sizes (bytes) fit
 * one binding (VGG's first activations at batch 32 are 411 MB) and start aligned.
 */
const batchChunks = (N: number, perSample: number[]) => splitToFit('conv2d', N, perSample, { hint: 'use a smaller batch' });

/** Samples [n0, n0 + n) of a batched tensor as a binding. */
const samples = (t: Tensor, perSample: number, [n0, n]: [number, number]): Binding => t.bytes(n0 * perSample, n * perSample);

/** Y (N,O,OH,OW) = conv2d(x, w) [+ b] [relu]. */
export function conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOpts & { relu?: boolean } = {}, config?: ConvConfig): Tensor {
  const g = convGeom(x.shape, w.shape, opts);
  if (b && b.size !== g.O) throw new Error(`conv2d: bias of shape [${b.shape}] for ${g.O} channels`);
  const cfg = config ?? convConfig('fwd', g);
  const y = Tensor.empty([g.N, g.O, g.OH, g.OW]);
  if (y.size === 0) return y;
  const v = variant(cfg, g, g.W % 4 === 0, g.OW % 4 === 0, !!b, !!opts.relu);
  const code = kernelCode(key('conv.fwd', v), () => forwardCode(v));
  const { wp, done } = packWeights(w, g, 'fwd', cfg.TO);
  const sx = g.C * g.H * g.W * 4, sy = g.O * g.OH * g.OW * 4;
  for (const ch of batchChunks(g.N, [sx, sy])) {
    const lanes = ch[1] * g.OH * Math.ceil(g.OW / cfg.TP);
    const bufs = [samples(x, sx, ch), wp, samples(y, sy, ch), ...(b ? [b] : [])];
    dispatch(code, bufs, params(g, ch[1], lanes), groups(lanes, cfg.WG, Math.ceil(g.O / cfg.TO)));
  }
  done();
  return y;
}

/** DX (N,C,H,W), the gradient of conv2d with respect to its input. */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOpts = {}, config?: ConvConfig): Tensor {
  const g = convGeom(xShape, w.shape, opts);
  const cfg = config ?? convConfig('dx', g);
  const dx = Tensor.empty(xShape);
  if (dx.size === 0) return dx;
  const v = variant(cfg, g, g.SW === 1 && g.OW % 4 === 0, g.SW === 1 && g.W % 4 === 0);
  const code = kernelCode(key('conv.dx', v), () => inputGradCode(v));
  const { wp, done } = packWeights(w, g, 'dx', cfg.TO);
  const sx = g.C * g.H * g.W * 4, sy = g.O * g.OH * g.OW * 4;
  for (const ch of batchChunks(g.N, [sx, sy])) {
    // lanes of the largest residue class
    const lanes = ch[1] * Math.ceil(g.H / g.SH) * Math.ceil(Math.ceil(g.W / g.SW) / cfg.TP);
    const z = Math.ceil(g.C / cfg.TO) * g.SH * g.SW;
    dispatch(code, [samples(dy, sy, ch), wp, samples(dx, sx, ch)], params(g, ch[1], lanes), groups(lanes, cfg.WG, z));
  }
  done();
  return dx;
}

/** Workgroups to aim for in the weight gradient (it splits the N*OH rows into chunks). */
const dwTargetGroups = () => (cpuKernels() ? 96 : 2048);

/** DW (O,C,KH,KW), the gradient of conv2d with respect to its weight. */
export function conv2dBackwardWeight(dy: Tensor, x: Tensor, wShape: Shape, opts: Conv2dOpts = {}, config?: ConvConfig): Tensor {
  const g = convGeom(x.shape, wShape, opts);
  if (g.N === 0) return Tensor.zeros(wShape);
  const cfg = config ?? convConfig('dw', g);
  const v = variant(cfg, g, g.W % 4 === 0, g.OW % 4 === 0);
  const code = kernelCode(key('conv.dw', v), () => weightGradCode(v));
  const gx = Math.ceil((g.C * g.KH) / cfg.WG), gy = Math.ceil(g.O / cfg.TO);
  const wsize = g.O * g.C * g.KH * g.KW;
  // rows (n, oh) per partial sum: enough partial sums to spread the work, few enough to fit one binding
  const slabs = Math.min(g.N * g.OH, Math.max(1, Math.round(dwTargetGroups() / (gx * gy))), Math.floor(2 ** 24 / wsize));
  const per = Math.ceil((g.N * g.OH) / Math.max(1, slabs));
  const sx = g.C * g.H * g.W * 4, sy = g.O * g.OH * g.OW * 4;
  const chunks = batchChunks(g.N, [sx, sy]);
  const S = chunks.reduce((s, ch) => s + Math.ceil((ch[1] * g.OH) / per), 0);
  const part = Tensor.empty(S === 1 ? wShape : [S, ...wShape]);
  let z0 = 0;
  for (const ch of chunks) {
    const z = Math.ceil((ch[1] * g.OH) / per);
    dispatch(code, [samples(dy, sy, ch), samples(x, sx, ch), part], params(g, ch[1], g.C * g.KH, per, z0), [gx, gy, z]);
    z0 += z;
  }
  if (S === 1) return part;
  const dw = reduce('sum', part, 1, S, wsize, wShape).y;
  part.dispose();
  return dw;
}

const BIAS_GRAD = flatKernel('N: u32, O: u32, P: u32, R: u32, len: u32, z0: u32, cols: u32',
  'OUT (O, cols) [o, z0*R + r] = sum over n and the r-th run of len pixels of IN (N,O,P) [n,o,p]; j = (o, r)', 'p.O * p.R', `
  let o = j / p.R;
  let r = j % p.R;
  let p1 = min(r * p.len + p.len, p.P);
  var acc = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let base = (n * p.O + o) * p.P;
    for (var i = r * p.len; i < p1; i++) { acc += IN[base + i]; }
  }
  OUT[o * p.cols + p.z0 * p.R + r] = acc;`);

/** DB (O) = sum of DY (N,O,OH,OW) over n, oh, ow: partial sums over runs of pixels, then over those. */
export function conv2dBackwardBias(dy: Tensor): Tensor {
  const [N, O, OH, OW] = dy.shape;
  if (N === 0) return Tensor.zeros([O]);
  const P = OH * OW;
  const R = Math.min(P, Math.ceil(512 / O));
  const len = Math.ceil(P / R);
  const chunks = batchChunks(N, [O * P * 4]);
  const part = Tensor.empty([O, chunks.length * R]);
  chunks.forEach((ch, z) => dispatch(BIAS_GRAD, [samples(dy, O * P * 4, ch), part], [ch[1], O, P, R, len, z, chunks.length * R], Math.ceil((O * R) / 64)));
  const db = reduce('sum', part, O, chunks.length * R, 1, [O]).y;
  part.dispose();
  return db;
}
