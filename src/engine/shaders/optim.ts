// Optimiser kernels: fused in-place updates (Adam, SGD with or without momentum, grad
// scaling), each one table row expanded by one template, and the global gradient L2 norm
// for clipping: per-tensor sums of squares into partials, then one final reduction that
// also writes the clip scale, so nothing is read back. Every update multiplies the
// gradient by a 1-element scale tensor S (the clip scale, or 1). Tensors larger than one
// storage binding are covered in chunks of byte ranges; a chunk whose length is a
// multiple of 4 runs the vec4 variant of its kernel.

import { cpuKernels } from '../kernels.js';
import { gpu } from '../device.js';
import { dispatch, fbits, runtime, WG_INDEX, type Binding } from '../runtime.js';
import { Tensor, type Shape } from '../tensor.js';

const WG = 256;
const ALIGN = 64; // elements in 256 bytes: chunk offsets stay aligned for any adapter

/**
 * Per-adapter tuning. Elements each invocation handles, for the updates and the sum of
 * squares (lavapipe pays per invocation: looping over a few is faster; GPUs want many
 * threads), and whether a workgroup adds its invocations' sums of squares with a barrier
 * tree (cheap on GPUs) or each invocation writes its own partial (lavapipe, where the
 * barriers cost 5x the loads).
 */
export interface OptimConfig {
  updatePer: number;
  sumPer: number;
  tree: boolean;
}
let config: OptimConfig | null = null;

/** The configuration (chosen per adapter on first use); `set` overrides parts of it. */
export function optimConfig(set?: Partial<OptimConfig>): OptimConfig {
  config ??= cpuKernels() ? { updatePer: 4, sumPer: 32, tree: false } : { updatePer: 1, sumPer: 16, tree: true };
  if (set) config = { ...config, ...set };
  return config;
}

/** The most elements one binding may cover (a multiple of 64). */
export function maxChunkElems(): number {
  return Math.floor(gpu().limits.maxStorageBufferBindingSize / 4 / ALIGN) * ALIGN;
}

/** `chunk` (default: the binding limit) rounded down to a multiple of 64, checked. */
export function chunkSize(chunk?: number): number {
  const max = maxChunkElems();
  const c = Math.floor(Math.min(chunk ?? max, max) / ALIGN) * ALIGN;
  if (!(c >= ALIGN)) throw new Error(`chunk size ${chunk} is below ${ALIGN} elements`);
  return c;
}

/** Calls fn(offset, length) over [0, n) in pieces of at most `chunk` elements. */
function forChunks(n: number, chunk: number, fn: (off: number, len: number) => void): void {
  for (let off = 0; off < n; off += chunk) fn(off, Math.min(chunk, n - off));
}

function range(t: Tensor, off: number, len: number): Binding {
  return { buffer: t.buffer, byteOffset: off * 4, byteLength: len * 4 };
}

/** A zero-filled tensor (a buffer clear: no binding-size limit). */
export function zeros(shape: Shape): Tensor {
  const t = Tensor.empty(shape);
  runtime().commandEncoder().clearBuffer(t.buffer, 0, Math.ceil(t.byteLength / 4) * 4);
  return t;
}

// ---- fused updates ----

interface Update {
  /** Bound read-only after S, in order. */
  read: string[];
  /** Bound read_write after the read ones; the first one's size is n. */
  write: string[];
  /** Fields of the params struct after n and per. */
  params: string;
  /** WGSL over element i, with T the element type and s the gradient scale. */
  body: string;
}

const UPDATES = {
  // NOTE: Adam as torch.optim.Adam (single-tensor path): L2 weight decay added to the
  // gradient; m.lerp_(g, 1-b1); v = b2 v + (1-b2) g^2; p -= stepSize * m / (sqrt(v)/bc2 + eps)
  // with stepSize = lr/(1-b1^t) and bc2 = sqrt(1-b2^t) computed on the host.
  adam: {
    read: ['G'],
    write: ['P', 'M', 'V'],
    params: 'stepSize: f32, bc2: f32, omb1: f32, b2: f32, omb2: f32, eps: f32, wd: f32',
    body: /* wgsl */ `
  let g = G[i] * s + p.wd * P[i];
  let m = M[i] + p.omb1 * (g - M[i]);
  let v = p.b2 * V[i] + p.omb2 * (g * g);
  M[i] = m;
  V[i] = v;
  P[i] = P[i] - p.stepSize * (m / (sqrt(v) / p.bc2 + p.eps));`,
  },
  // P -= lr (g s + wd P)
  sgd: {
    read: ['G'],
    write: ['P'],
    params: 'lr: f32, wd: f32',
    body: /* wgsl */ `
  P[i] = P[i] - p.lr * (G[i] * s + p.wd * P[i]);`,
  },
  // NOTE: SGD momentum as torch.optim.SGD: the first step sets B = d (no dampening);
  // later B = mom B + (1-dampening) d; nesterov steps along d + mom B, else along B.
  sgdMomentum: {
    read: ['G'],
    write: ['P', 'B'],
    params: 'lr: f32, wd: f32, mom: f32, omd: f32, first: u32, nesterov: u32',
    body: /* wgsl */ `
  let d = G[i] * s + p.wd * P[i];
  let b = select(p.mom * B[i] + p.omd * d, d, p.first != 0u);
  B[i] = b;
  P[i] = P[i] - p.lr * select(b, d + p.mom * b, p.nesterov != 0u);`,
  },
  // G *= s
  scale: {
    read: [],
    write: ['G'],
    params: '',
    body: /* wgsl */ `
  G[i] = G[i] * s;`,
  },
} satisfies Record<string, Update>;

export type UpdateKind = keyof typeof UPDATES;

function updateCode(u: Update, vec: boolean): string {
  const T = vec ? 'vec4<f32>' : 'f32';
  const decl = (name: string, k: number, access: string) =>
    `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<${T}>;`;
  const names = [...u.read, ...u.write];
  return /* wgsl */ `${WG_INDEX}
struct Params { n: u32, per: u32,${u.params ? ` ${u.params}` : ''} }
@group(0) @binding(0) var<storage, read> S: array<f32>;
${names.map((nm, k) => decl(nm, k + 1, k < u.read.length ? 'read' : 'read_write')).join('\n')}
@group(0) @binding(${names.length + 1}) var<uniform> p: Params;
// ${u.write.join(', ')} (n) updated in place from ${[...u.read, 'S'].join(', ')}; s = S[0]; per elements an invocation
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let start = wgIndex(wid, nwg) * p.per * ${WG}u + li;
  let s = S[0];
  for (var k = 0u; k < p.per; k++) {
    let i = start + k * ${WG}u;
    if (i >= p.n) { return; }${u.body.replaceAll('\n', '\n  ')}
  }
}`;
}

/** Each update's WGSL: [scalar, vec4]. */
const UPDATE_CODE = Object.fromEntries(
  Object.entries(UPDATES).map(([k, u]) => [k, [updateCode(u, false), updateCode(u, true)]]),
) as Record<UpdateKind, [string, string]>;

/**
 * Runs the in-place update `kind` over the tensors it names (all of one size; S is a
 * 1-element gradient scale) with its params (u32 words after n and per), chunk by chunk.
 */
export function update(kind: UpdateKind, tensors: Record<string, Tensor>, params: number[], chunk?: number): void {
  const u: Update = UPDATES[kind];
  const names = [...u.read, ...u.write];
  const n = tensors[u.write[0]].size;
  for (const nm of names) {
    if (tensors[nm].size !== n) throw new Error(`${kind} update: ${nm} has ${tensors[nm].size} elements, not ${n}`);
  }
  if (tensors.S.size !== 1) throw new Error(`${kind} update: the scale S must have one element`);
  const per = optimConfig().updatePer;
  forChunks(n, chunkSize(chunk), (off, len) => {
    const vec = len % 4 === 0;
    const count = vec ? len / 4 : len;
    const bindings = [tensors.S, ...names.map((nm) => range(tensors[nm], off, len))];
    dispatch(UPDATE_CODE[kind][vec ? 1 : 0], bindings, [count, per, ...params], Math.ceil(count / (per * WG)));
  });
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

/** Adam's update of P, M, V in place from G times the scale S (the host does the bias corrections). */
export function adamUpdate(P: Tensor, G: Tensor, M: Tensor, V: Tensor, S: Tensor, h: AdamParams, chunk?: number): void {
  const stepSize = h.lr / (1 - h.beta1 ** h.step);
  const bc2 = Math.sqrt(1 - h.beta2 ** h.step);
  const f = [stepSize, bc2, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps, h.weightDecay].map(fbits);
  update('adam', { S, G, P, M, V }, f, chunk);
}

export interface SgdParams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** SGD's update of P (and the momentum buffer B unless null) in place; `first` sets B = d. */
export function sgdUpdate(P: Tensor, G: Tensor, B: Tensor | null, S: Tensor, h: SgdParams, first: boolean, chunk?: number): void {
  if (!B) return update('sgd', { S, G, P }, [fbits(h.lr), fbits(h.weightDecay)], chunk);
  const f = [h.lr, h.weightDecay, h.momentum, 1 - h.dampening].map(fbits);
  update('sgdMomentum', { S, G, P, B }, [...f, first ? 1 : 0, h.nesterov ? 1 : 0], chunk);
}

// ---- global L2 norm ----

/** WGSL: the workgroup's values of acc summed into sv[0] (a tree over workgroup memory). */
const TREE_SUM = /* wgsl */ `
  sv[li] = acc;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (li < h) { sv[li] += sv[li + h]; }
    workgroupBarrier();
  }`;

function sumSquaresCode(vec: boolean, tree: boolean): string {
  const T = vec ? 'vec4<f32>' : 'f32';
  const store = tree
    ? /* wgsl */ `${TREE_SUM}
  if (li == 0u) { PART[p.base + w] = sv[0]; }`
    : `
  PART[p.base + w * ${WG}u + li] = acc;`;
  return /* wgsl */ `${WG_INDEX}
struct Params { n: u32, per: u32, base: u32 }
@group(0) @binding(0) var<storage, read> X: array<${T}>;
@group(0) @binding(1) var<storage, read_write> PART: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${tree ? `var<workgroup> sv: array<f32, ${WG}>;` : ''}
// PART[base + w${tree ? '' : ` * ${WG} + li`}] = sum of X[j]^2 over the per * ${WG} elements of X (n) of workgroup w${tree ? '' : ', invocation li'}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = wgIndex(wid, nwg);
  let start = w * p.per * ${WG}u + li;
  var acc = 0.0;
  for (var k = 0u; k < p.per; k++) {
    let i = start + k * ${WG}u;
    if (i < p.n) { let x = X[i]; acc += ${vec ? 'dot(x, x)' : 'x * x'}; }
  }${store}
}`;
}

/** The sum of squares' WGSL: [scalar, vec4] x [flat, tree]. */
const SUMSQ_CODE = [false, true].map((vec) => [false, true].map((tree) => sumSquaresCode(vec, tree)));

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
 * The L2 norm over all of `grads` (1-element tensor) and the clip scale
 * min(1, maxNorm / (norm + 1e-6)) (1-element tensor; 1 when `clip` is false), on the GPU.
 */
export function globalNorm(grads: readonly Tensor[], maxNorm: number, clip: boolean, chunk?: number): { norm: Tensor; scale: Tensor } {
  const c = chunkSize(chunk);
  const { sumPer, tree } = optimConfig();
  const pieces: { g: Tensor; off: number; len: number; vec: boolean; per: number; groups: number; base: number }[] = [];
  let total = 0;
  for (const g of grads) {
    forChunks(g.size, c, (off, len) => {
      const vec = len % 4 === 0;
      const count = vec ? len / 4 : len;
      const per = Math.max(1, Math.round(sumPer / (vec ? 4 : 1)));
      const groups = Math.ceil(count / (per * WG));
      pieces.push({ g, off, len, vec, per, groups, base: total });
      total += tree ? groups : groups * WG;
    });
  }
  const part = Tensor.empty([Math.max(1, total)]);
  for (const q of pieces) {
    dispatch(SUMSQ_CODE[q.vec ? 1 : 0][tree ? 1 : 0], [range(q.g, q.off, q.len), part], [q.vec ? q.len / 4 : q.len, q.per, q.base], q.groups);
  }
  const norm = Tensor.empty([1]);
  const scale = Tensor.empty([1]);
  dispatch(FINAL, [part, norm, scale], [total, fbits(maxNorm), clip ? 1 : 0], 1);
  part.dispose();
  return { norm, scale };
}
