// Optimiser kernels: fused in-place updates (Adam, SGD with or without momentum, grad
// scaling), each one table row expanded by one template, and the global gradient L2 norm
// for clipping: sums of squares into partials, then one final reduction that also writes
// the clip scale, so nothing is read back. Every update multiplies the gradient by a
// 1-element scale tensor S (the clip scale, or 1).
//
// A kernel runs over pieces: one binding window (at most one storage binding) of each
// tensor it names, split into blocks of elements, one workgroup a block. A piece's blocks
// are either the first n elements in order, or listed in a table of (start, end) pairs:
// that is how one dispatch covers the many parameters packed into an arena (src/optim/flat.ts),
// each block inside one parameter. Loads are vec4; lanes past a block's end are neither
// counted nor written, so the padding between parameters stays untouched.

import { config, fitRun } from '../config.js';
import { dispatch, fbits, WG_INDEX, type Binding } from '../runtime.js';
import { Tensor } from '../tensor.js';
import { treeFold } from './reduce.js';
import { kernelCode } from './codegen.js';

const WG = 256;
const ALIGN = 64; // elements in 256 bytes: chunk offsets stay aligned for any adapter

/** vec4s an invocation handles and elements a block (a workgroup) covers, for the updates or the sum of squares. */
function perOf(elems: number): { per: number; block: number } {
  const per = Math.max(1, Math.round(elems / 4));
  return { per, block: per * 4 * WG };
}

/** Elements of a block (a workgroup's share) of the update kernels and of the sum of squares. */
export function blockElems(kernel: 'update' | 'sum'): number {
  const c = config().optim;
  return perOf(kernel === 'update' ? c.updatePer : c.sumPer).block;
}

/** The most elements one binding window may cover: a multiple of 64 (offsets stay aligned on any adapter). */
export const chunkSize = () => fitRun('optimiser', [4], { quantum: ALIGN, aligned: false });

/** One dispatch's work: a binding window of each named tensor and its blocks. */
export interface Piece {
  bind: Record<string, Binding>;
  /** (start, end) element pairs (i32), one per block, offsets inside the windows; null: the first `n` elements in blocks. */
  table: Tensor | null;
  n: number;
  blocks: number;
}

/** Pieces over whole tensors of `n` elements (one per binding window). */
function plainPieces(tensors: Record<string, Tensor>, n: number, block: number): Piece[] {
  const c = chunkSize();
  const out: Piece[] = [];
  for (let off = 0; off < n; off += c) {
    const len = Math.min(c, n - off);
    // a window rounded up to whole vec4s: pool buffers and arena slots hold them; lanes past n are masked
    const bytes = Math.ceil(len / 4) * 16;
    const bind = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.bytes(off * 4, bytes)]));
    out.push({ bind, table: null, n: len, blocks: Math.ceil(len / block) });
  }
  return out;
}

/** WGSL: the block [start, end) of workgroup w, from the table T or the first p.n elements; returns past the last block. */
function blockOf(tabled: boolean): string {
  return /* wgsl */ `
  let w = wgIndex(wid, nwg);
  if (w >= p.blocks) { return; }${tabled ? `
  let start = T[w].x;
  let end = T[w].y;` : `
  let start = w * p.per * ${4 * WG}u;
  let end = min(start + p.per * ${4 * WG}u, p.n);`}`;
}

/** WGSL: for each vec4 index j of the block, an invocation's share, with `past` its lanes beyond the end. */
function overBlock(body: string): string {
  return /* wgsl */ `
  for (var k = 0u; k < p.per; k++) {
    let j = start / 4u + k * ${WG}u + li;
    if (j * 4u >= end) { break; }
    let past = vec4<u32>(j * 4u) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(end);${body.replaceAll('\n', '\n  ')}
  }`;
}

const MAIN = /* wgsl */ `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {`;

// ---- fused updates ----

interface Update {
  /** Bound read-only after S, in order. */
  read: string[];
  /** Bound read_write after the read ones, with their new values (WGSL over vec4 index i, after `body`). */
  write: Record<string, string>;
  /** Fields of the params struct after n, per and blocks. */
  params: string;
  /** WGSL lets over vec4 index i, with s the gradient scale. */
  body: string;
}

const UPDATES = {
  // NOTE: Adam as torch.optim.Adam (single-tensor path): L2 weight decay added to the
  // gradient; m.lerp_(g, 1-b1); v = b2 v + (1-b2) g^2; p -= stepSize * m / (sqrt(v)/bc2 + eps)
  // with stepSize = lr/(1-b1^t) and bc2 = sqrt(1-b2^t) computed on the host.
  adam: {
    read: ['G'],
    write: { P: 'P[i] - p.stepSize * (m / (sqrt(v) / p.bc2 + p.eps))', M: 'm', V: 'v' },
    params: 'stepSize: f32, bc2: f32, omb1: f32, b2: f32, omb2: f32, eps: f32, wd: f32',
    body: /* wgsl */ `
  let g = G[i] * s + p.wd * P[i];
  let m = M[i] + p.omb1 * (g - M[i]);
  let v = p.b2 * V[i] + p.omb2 * (g * g);`,
  },
  // P -= lr (g s + wd P)
  sgd: {
    read: ['G'],
    write: { P: 'P[i] - p.lr * (G[i] * s + p.wd * P[i])' },
    params: 'lr: f32, wd: f32',
    body: '',
  },
  // NOTE: SGD momentum as torch.optim.SGD: the first step sets B = d (no dampening);
  // later B = mom B + (1-dampening) d; nesterov steps along d + mom B, else along B.
  sgdMomentum: {
    read: ['G'],
    write: { P: 'P[i] - p.lr * select(b, d + p.mom * b, p.nesterov != 0u)', B: 'b' },
    params: 'lr: f32, wd: f32, mom: f32, omd: f32, first: u32, nesterov: u32',
    body: /* wgsl */ `
  let d = G[i] * s + p.wd * P[i];
  let b = select(p.mom * B[i] + p.omd * d, d, p.first != 0u);`,
  },
  // G *= s
  scale: {
    read: [],
    write: { G: 'G[i] * s' },
    params: '',
    body: '',
  },
} satisfies Record<string, Update>;

export type UpdateKind = keyof typeof UPDATES;

function updateCode(u: Update, tabled: boolean): string {
  const decl = (name: string, k: number, access: string) => `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<vec4<f32>>;`;
  const writes = Object.keys(u.write);
  const names = [...u.read, ...writes];
  const first = tabled ? 2 : 1;
  const body = `
let i = j;${u.body}
${writes.map((nm) => `let new${nm} = ${u.write[nm]};`).join('\n')}
${writes.map((nm) => `${nm}[i] = select(new${nm}, ${nm}[i], past);`).join('\n')}`;
  return /* wgsl */ `${WG_INDEX}
struct Params { n: u32, per: u32, blocks: u32,${u.params ? ` ${u.params}` : ''} }
@group(0) @binding(0) var<storage, read> S: array<f32>;
${tabled ? '@group(0) @binding(1) var<storage, read> T: array<vec2<u32>>;' : ''}
${names.map((nm, k) => decl(nm, k + first, k < u.read.length ? 'read' : 'read_write')).join('\n')}
@group(0) @binding(${names.length + first}) var<uniform> p: Params;
// ${writes.join(', ')} updated in place from ${[...u.read, 'S'].join(', ')} (s = S[0]) over ${tabled ? 'the blocks listed in T' : 'the first n elements'}; per vec4s an invocation
${MAIN}${blockOf(tabled)}
  let s = S[0];${overBlock(body)}
}`;
}

/** Runs the in-place update `kind` over `pieces` (S is a 1-element gradient scale) with its params (u32 words after n, per and blocks). */
export function updatePieces(kind: UpdateKind, pieces: readonly Piece[], S: Tensor, params: number[]): void {
  const u: Update = UPDATES[kind];
  if (S.size !== 1) throw new Error(`${kind} update: the scale S must have one element`);
  const { per } = perOf(config().optim.updatePer);
  const names = [...u.read, ...Object.keys(u.write)];
  for (const q of pieces) {
    if (!q.blocks) continue;
    const bindings = [S, ...(q.table ? [q.table] : []), ...names.map((nm) => q.bind[nm])];
    dispatch(kernelCode(['update', kind, !!q.table], () => updateCode(u, !!q.table)), bindings, [q.n, per, q.blocks, ...params], q.blocks);
  }
}

/**
 * Runs the in-place update `kind` over the tensors it names (all of one size; S is a
 * 1-element gradient scale) with its params, chunk by chunk.
 */
export function update(kind: UpdateKind, tensors: Record<string, Tensor>, params: number[]): void {
  const u: Update = UPDATES[kind];
  const names = [...u.read, ...Object.keys(u.write)];
  const n = tensors[names[0]].size;
  for (const nm of names) {
    if (tensors[nm].size !== n) throw new Error(`${kind} update: ${nm} has ${tensors[nm].size} elements, not ${n}`);
  }
  const own = Object.fromEntries(names.map((nm) => [nm, tensors[nm]]));
  updatePieces(kind, plainPieces(own, n, blockElems('update')), tensors.S, params);
}

export interface AdamParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** The step number t, from 1. */
  step: number;
}

/** Adam's params words (the host does the bias corrections). */
export function adamParams(h: AdamParams): number[] {
  const stepSize = h.lr / (1 - h.beta1 ** h.step);
  const bc2 = Math.sqrt(1 - h.beta2 ** h.step);
  return [stepSize, bc2, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps, h.weightDecay].map(fbits);
}

export interface SgdParams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** SGD's kind and params words; `first` sets the momentum buffer B = d. */
export function sgdParams(h: SgdParams, first: boolean): { kind: 'sgd' | 'sgdMomentum'; params: number[] } {
  if (h.momentum === 0) return { kind: 'sgd', params: [fbits(h.lr), fbits(h.weightDecay)] };
  const f = [h.lr, h.weightDecay, h.momentum, 1 - h.dampening].map(fbits);
  return { kind: 'sgdMomentum', params: [...f, first ? 1 : 0, h.nesterov ? 1 : 0] };
}

// ---- global L2 norm ----

/** WGSL: the workgroup's values of acc summed into sv[0] (a tree over workgroup memory). */
const TREE_SUM = /* wgsl */ `
  sv[li] = acc;
  workgroupBarrier();
  ${treeFold(`${WG}u`, 'li', 'sv[li] += sv[li + s];')}`;

function sumSquaresCode(tabled: boolean, tree: boolean): string {
  const store = tree
    ? /* wgsl */ `${TREE_SUM}
  if (li == 0u) { PART[p.base + w] = sv[0]; }`
    : `
  PART[p.base + w * ${WG}u + li] = acc;`;
  const X = tabled ? 1 : 0;
  return /* wgsl */ `${WG_INDEX}
struct Params { n: u32, per: u32, blocks: u32, base: u32 }
${tabled ? '@group(0) @binding(0) var<storage, read> T: array<vec2<u32>>;' : ''}
@group(0) @binding(${X}) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(${X + 1}) var<storage, read_write> PART: array<f32>;
@group(0) @binding(${X + 2}) var<uniform> p: Params;
${tree ? `var<workgroup> sv: array<f32, ${WG}>;` : ''}
// PART[base + w${tree ? '' : ` * ${WG} + li`}] = sum of X^2 over block w (${tabled ? 'listed in T' : 'of the first n elements'})${tree ? '' : ', invocation li'}
${MAIN}${blockOf(tabled)}
  var acc = 0.0;${overBlock(`
let x = select(X[j], vec4<f32>(), past);
acc += dot(x, x);`)}${store}
}`;
}

// NOTE: clip scale as torch.nn.utils.clip_grad_norm_: min(1, maxNorm / (norm + 1e-6)),
// NaN when the norm is NaN (grads then become NaN, error_if_nonfinite=False); clip = 0 gives 1.
const FINAL = /* wgsl */ `
struct Params { n: u32, maxNorm: f32, clip: u32 }
@group(0) @binding(0) var<storage, read> PART: array<f32>;
@group(0) @binding(1) var<storage, read_write> NORM: array<f32>;
@group(0) @binding(2) var<storage, read_write> SCALE: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> sv: array<f32, ${WG}>;
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// NORM[0] = sqrt(sum PART (n)); SCALE[0] = the clip scale; one workgroup
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) li: u32) {
  var acc = 0.0;
  for (var i = li; i < p.n; i += ${WG}u) { acc += PART[i]; }${TREE_SUM}
  if (li == 0u) {
    let norm = sqrt(sv[0]);
    let c = p.maxNorm / (norm + 1e-6);
    NORM[0] = norm;
    SCALE[0] = select(1.0, c, p.clip != 0u && (c < 1.0 || isNan(c)));
  }
}`;

/**
 * The L2 norm over the `X` windows of `pieces` (1-element tensor) and the clip scale
 * min(1, maxNorm / (norm + 1e-6)) (1-element tensor; 1 when `clip` is false), on the GPU:
 * one dispatch a piece and a final one.
 */
export function normPieces(pieces: readonly Piece[], maxNorm: number, clip: boolean): { norm: Tensor; scale: Tensor } {
  const { tree, sumPer } = config().optim;
  const { per } = perOf(sumPer);
  const part = Tensor.empty([Math.max(1, pieces.reduce((s, q) => s + q.blocks * (tree ? 1 : WG), 0))]);
  let base = 0;
  for (const q of pieces) {
    if (!q.blocks) continue;
    const bindings = [...(q.table ? [q.table] : []), q.bind.X, part];
    dispatch(kernelCode(['sumsq', !!q.table, tree], () => sumSquaresCode(!!q.table, tree)), bindings, [q.n, per, q.blocks, base], q.blocks);
    base += q.blocks * (tree ? 1 : WG);
  }
  const norm = Tensor.empty([1]);
  const scale = Tensor.empty([1]);
  dispatch(FINAL, [part, norm, scale], [base, fbits(maxNorm), clip ? 1 : 0], 1);
  part.dispose();
  return { norm, scale };
}

/** The L2 norm over all of `grads` and the clip scale, one sum-of-squares dispatch a tensor (and chunk). */
export function globalNorm(grads: readonly Tensor[], maxNorm: number, clip: boolean): { norm: Tensor; scale: Tensor } {
  const block = blockElems('sum');
  return normPieces(grads.flatMap((g) => plainPieces({ X: g }, g.size, block)), maxNorm, clip);
}
