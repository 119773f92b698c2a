// Normalisation kernels over rows: x viewed as R rows of D contiguous values. Layer norm
// normalises each row (D = the last dim). Batch norm on (N,C,S) takes the (n, c) planes
// as rows (D = S) and combines their moments over n into per-channel statistics.
// A row is walked by one invocation ('row' mode: CPU adapters, no barriers, long
// contiguous loops) or by one workgroup ('group' mode: GPUs, tree sums); see normMode.

import { config, type NormMode } from '../config.js';
import { dispatch, fbits, WG_INDEX } from '../runtime.js';
import { Tensor, numel } from '../tensor.js';
import { full } from './elementwise.js';
import { treeFold } from './reduce.js';
import { kernelCode } from './codegen.js';

const WG = 256; // group mode: lanes per row
const WG_ROW = 64; // row mode and per-channel / per-column kernels: invocations per workgroup

export type { NormMode };

/** The mode for rows of D values on this adapter (measured on lavapipe: see bench/NOTES.md, pooling). */
export function normMode(D: number): NormMode {
  const m = config().normMode;
  return m !== 'auto' ? m : D < 64 ? 'row' : 'group';
}

// Rows R of D values; C channels (batch norm); K blocks of L rows (partial column sums); flags: 1 training, 2 update running stats.
const HEADER = /* wgsl */ `${WG_INDEX}
struct P { R: u32, D: u32, C: u32, K: u32, L: u32, flags: u32, momentum: f32, eps: f32 }`;

/** Storage bindings 0.. in order ('rw ' marks read_write), then the params uniform. */
const bindings = (...names: string[]) => [
  ...names.map((n, i) => `@group(0) @binding(${i}) var<storage, ${n.startsWith('rw ') ? `read_write> ${n.slice(3)}` : `read> ${n}`}: array<f32>;`),
  `@group(0) @binding(${names.length}) var<uniform> p: P;`,
].join('\n');

const entry = (size: number) => /* wgsl */ `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32)`;

/** The entry point of a kernel with one invocation per index i < bound. */
const perIndex = (bound: string) => /* wgsl */ `${entry(WG_ROW)} {
  let i = wgIndex(wid, nwg) * ${WG_ROW}u + li;
  if (i >= ${bound}) { return; }`;

/** WGSL pieces of a row kernel: the entry (row r starts at X[x]), the loop over its columns j, a sum over the row. */
function rowKernel(mode: NormMode) {
  const group = mode === 'group';
  return {
    what: `one ${group ? 'workgroup' : 'invocation'} per row`,
    main: `${entry(group ? WG : WG_ROW)} {
  let r = ${group ? 'wgIndex(wid, nwg)' : `wgIndex(wid, nwg) * ${WG_ROW}u + li`};
  if (r >= p.R) { return; }
  let x = r * p.D;`,
    cols: group ? `for (var j = li; j < p.D; j += ${WG}u)` : 'for (var j = 0u; j < p.D; j++)',
    // workgroup-wide sum (every lane gets the total); the scratch is free again on return
    sumFn: (T: string) => (group ? /* wgsl */ `
var<workgroup> red: array<${T}, ${WG}>;
fn rowSum(li: u32, v: ${T}) -> ${T} {
  red[li] = v;
  workgroupBarrier();
  ${treeFold(`${WG}u`, 'li', 'red[li] += red[li + s];')}
  let t = red[0];
  workgroupBarrier();
  return t;
}` : ''),
    sum: (v: string) => (group ? `rowSum(li, ${v})` : v),
    first: group ? 'li == 0u' : 'true',
  };
}
type Row = ReturnType<typeof rowKernel>;

/** WGSL for the mean and the sum of squared deviations m2 of row r (two passes). */
const moments = (L: Row) => /* wgsl */ `var s = 0.0;
  ${L.cols} { s += X[x + j]; }
  let mean = ${L.sum('s')} / f32(p.D);
  var q = 0.0;
  ${L.cols} { let d = X[x + j] - mean; q += d * d; }
  let m2 = ${L.sum('q')};`;

// ---- layer norm ----

function lnForward(L: Row): string {
  return /* wgsl */ `${HEADER}${L.sumFn('f32')}
${bindings('X', 'W', 'B', 'rw STATS', 'rw Y')}
// Y (R,D) = (X - mean[r]) * rstd[r] * W + B, ${L.what}; STATS (2,R) = mean, rstd.
// NOTE: layer norm uses the biased variance over the row, eps inside the square root (PyTorch).
${L.main}
  ${moments(L)}
  let rstd = inverseSqrt(m2 / f32(p.D) + p.eps);
  if (${L.first}) { STATS[r] = mean; STATS[p.R + r] = rstd; }
  ${L.cols} { Y[x + j] = (X[x + j] - mean) * rstd * W[j] + B[j]; }
}`;
}

function lnBackward(L: Row): string {
  return /* wgsl */ `${HEADER}${L.sumFn('vec2<f32>')}
${bindings('X', 'DY', 'W', 'STATS', 'rw DX')}
// DX (R,D) = rstd (g - mean_j g - xhat mean_j(g xhat)), g = DY * W, xhat = (X - mean) * rstd; ${L.what}
${L.main}
  let mean = STATS[r]; let rstd = STATS[p.R + r];
  var acc = vec2<f32>(0.0);
  ${L.cols} { let g = DY[x + j] * W[j]; acc += vec2<f32>(g, g * (X[x + j] - mean) * rstd); }
  let m = ${L.sum('acc')} / f32(p.D);
  ${L.cols} { DX[x + j] = rstd * (DY[x + j] * W[j] - m.x - (X[x + j] - mean) * rstd * m.y); }
}`;
}

const LN_WB_PARTIAL = /* wgsl */ `${HEADER}
${bindings('X', 'DY', 'STATS', 'rw PART')}
// PART (K,2,D): over the rows r of block k (L rows each), PART[k,0,j] = sum DY xhat, PART[k,1,j] = sum DY
${perIndex('p.K * p.D')}
  let k = i / p.D; let j = i % p.D;
  var acc = vec2<f32>(0.0);
  for (var r = k * p.L; r < min((k + 1u) * p.L, p.R); r++) {
    let dy = DY[r * p.D + j];
    acc += vec2<f32>(dy * (X[r * p.D + j] - STATS[r]) * STATS[p.R + r], dy);
  }
  PART[(2u * k) * p.D + j] = acc.x;
  PART[(2u * k + 1u) * p.D + j] = acc.y;
}`;

const COLSUM2 = /* wgsl */ `${HEADER}
${bindings('PART', 'rw DW', 'rw DB')}
// DW[j], DB[j] (D) = sums over the K blocks of PART (K,2,D)
${perIndex('p.D')}
  var acc = vec2<f32>(0.0);
  for (var k = 0u; k < p.K; k++) { acc += vec2<f32>(PART[(2u * k) * p.D + i], PART[(2u * k + 1u) * p.D + i]); }
  DW[i] = acc.x;
  DB[i] = acc.y;
}`;

// ---- batch norm: rows r = n*C + c are the planes of (N,C,S) ----

function bnRowMoments(L: Row): string {
  return /* wgsl */ `${HEADER}${L.sumFn('f32')}
${bindings('X', 'rw PART')}
// PART (2,R) = mean and m2 (sum of squared deviations) of each row r = (n, c) of X (N,C,D); ${L.what}
${L.main}
  ${moments(L)}
  if (${L.first}) { PART[r] = mean; PART[p.R + r] = m2; }
}`;
}

const BN_COMBINE = /* wgsl */ `${HEADER}
${bindings('PART', 'rw RM', 'rw RV', 'rw STATS')}
// STATS (2,C) = mean, invstd of channel c. Training: the moments PART (2,R) of its N = R/C rows of
// D values combined (equal counts: mean = mean of row means, M2 = sum m2 + D sum (mean_r - mean)^2)
// and, with flags & 2, RM, RV (C) updated in place. Eval: RM, RV.
// NOTE: normalisation uses the biased batch variance; running_var moves towards the unbiased one, M2 / (n - 1).
${perIndex('p.C')}
  let c = i; let N = p.R / p.C;
  var mean: f32; var invstd: f32;
  if ((p.flags & 1u) != 0u) {
    var s = 0.0;
    for (var b = 0u; b < N; b++) { s += PART[b * p.C + c]; }
    mean = s / f32(N);
    var m2 = 0.0;
    for (var b = 0u; b < N; b++) { let d = PART[b * p.C + c] - mean; m2 += PART[p.R + b * p.C + c] + f32(p.D) * d * d; }
    let n = f32(N * p.D);
    invstd = inverseSqrt(m2 / n + p.eps);
    if ((p.flags & 2u) != 0u) {
      RM[c] = (1.0 - p.momentum) * RM[c] + p.momentum * mean;
      RV[c] = (1.0 - p.momentum) * RV[c] + p.momentum * m2 / (n - 1.0);
    }
  } else {
    mean = RM[c];
    invstd = inverseSqrt(RV[c] + p.eps);
  }
  STATS[c] = mean; STATS[p.C + c] = invstd;
}`;

function bnNormalize(L: Row): string {
  return /* wgsl */ `${HEADER}
${bindings('X', 'W', 'B', 'STATS', 'rw Y')}
// Y (N,C,D) = (X - mean[c]) * invstd[c] * W[c] + B[c] with STATS (2,C); ${L.what}
${L.main}
  let c = r % p.C; let mean = STATS[c]; let g = STATS[p.C + c] * W[c]; let b = B[c];
  ${L.cols} { Y[x + j] = (X[x + j] - mean) * g + b; }
}`;
}

function bnRowGrad(L: Row): string {
  return /* wgsl */ `${HEADER}${L.sumFn('vec2<f32>')}
${bindings('X', 'DY', 'STATS', 'rw PART')}
// PART (N,2,C): [n,0,c] = sum DY xhat, [n,1,c] = sum DY over row r = (n, c), xhat = (X - mean[c]) * invstd[c]; ${L.what}
${L.main}
  let c = r % p.C; let mean = STATS[c]; let invstd = STATS[p.C + c];
  var acc = vec2<f32>(0.0);
  ${L.cols} { let dy = DY[x + j]; acc += vec2<f32>(dy * (X[x + j] - mean) * invstd, dy); }
  let sums = ${L.sum('acc')};
  if (${L.first}) { let n = r / p.C; PART[(2u * n) * p.C + c] = sums.x; PART[(2u * n + 1u) * p.C + c] = sums.y; }
}`;
}

function bnDx(L: Row): string {
  return /* wgsl */ `${HEADER}
${bindings('X', 'DY', 'W', 'STATS', 'DW', 'DB', 'rw DX')}
// DX (N,C,D) = W invstd (DY - (DB + xhat DW) / n) in training (the statistics depend on X), W invstd DY
// in eval; DW, DB (C) = sums of DY xhat and DY over the channel's n values; ${L.what}
${L.main}
  let c = r % p.C; let mean = STATS[c]; let invstd = STATS[p.C + c]; let g = W[c] * invstd;
  let t = select(vec2<f32>(0.0), vec2<f32>(DB[c], DW[c]) / f32(p.R / p.C * p.D), (p.flags & 1u) != 0u);
  ${L.cols} { DX[x + j] = g * (DY[x + j] - t.x - (X[x + j] - mean) * invstd * t.y); }
}`;
}

const ROW_KERNELS = { lnFwd: lnForward, lnBwd: lnBackward, bnMoments: bnRowMoments, bnNorm: bnNormalize, bnGrad: bnRowGrad, bnDx: bnDx };

/** A row kernel's WGSL for a mode (generated on first use). */
const rowCode = (kind: keyof typeof ROW_KERNELS, mode: NormMode) => kernelCode(['norm', kind, mode], () => ROW_KERNELS[kind](rowKernel(mode)));

const rowGroups = (mode: NormMode, R: number) => (mode === 'group' ? R : Math.ceil(R / WG_ROW));
const indexGroups = (n: number) => Math.ceil(n / WG_ROW);

/** Params: rows R of D values, C channels, K blocks of L rows, flags, momentum, eps. */
const params = (o: { R?: number; D: number; C?: number; K?: number; L?: number; flags?: number; momentum?: number; eps?: number }) =>
  [o.R ?? 0, o.D, o.C ?? 0, o.K ?? 0, o.L ?? 0, o.flags ?? 0, fbits(o.momentum ?? 0), fbits(o.eps ?? 0)];

/** Runs `fn` with the given tensor or a temporary one made by `make` (disposed after). */
function orTemp<T>(t: Tensor | null, make: () => Tensor, fn: (t: Tensor) => T): T {
  if (t) return fn(t);
  const tmp = make();
  try {
    return fn(tmp);
  } finally {
    tmp.dispose();
  }
}

// ---- batch norm launchers ----

export interface BatchNormOpts {
  training: boolean;
  momentum?: number; // default 0.1; a caller wanting a cumulative average passes 1 / num_batches_tracked
  eps?: number; // default 1e-5
}

function channels(shape: readonly number[]): { N: number; C: number; S: number } {
  if (shape.length < 2) throw new Error(`batch_norm expects (N,C) or (N,C,...) input, got [${shape}]`);
  const [N, C] = shape;
  return { N, C, S: numel(shape.slice(2)) };
}

/** What the batch_norm forward saves for its backward. */
export type BatchNormSaved = {
  /** (2,C): mean, 1/sqrt(var + eps). */
  stats: Tensor;
  /** Whether the statistics came from the batch (they then depend on x). */
  train: boolean;
};

/**
 * batch_norm forward on (N,C,...). With `training` (or without running stats) it uses
 * the batch statistics and, when given, updates runningMean/runningVar (C) in place.
 */
export function batchNormForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null, o: BatchNormOpts): { y: Tensor; saved: BatchNormSaved } {
  const { N, C, S } = channels(x.shape);
  const train = o.training || !runningMean || !runningVar;
  if (train && N * S <= 1) throw new Error(`batch_norm: Expected more than 1 value per channel when training, got input size [${x.shape}]`);
  for (const [name, t] of [['weight', weight], ['bias', bias], ['running_mean', runningMean], ['running_var', runningVar]] as const) {
    if (t && t.size !== C) throw new Error(`batch_norm: ${name} has ${t.size} elements, expected ${C} (channels of [${x.shape}])`);
  }
  const m = normMode(S);
  const R = N * C;
  const update = train && !!runningMean && !!runningVar;
  const prm = params({ R, D: S, C, flags: +train | (update ? 2 : 0), momentum: o.momentum ?? 0.1, eps: o.eps ?? 1e-5 });
  const y = Tensor.empty(x.shape), stats = Tensor.empty([2, C]);
  const part = train ? Tensor.empty([2, R]) : null; // row moments (mean, m2)
  if (part) dispatch(rowCode('bnMoments', m), [x, part], prm, rowGroups(m, R));
  // in eval the combine reads no moments: x stands in for the binding
  orTemp(runningMean, () => Tensor.zeros([C]), (rm) => orTemp(runningVar, () => full([C], 1), (rv) =>
    dispatch(BN_COMBINE, [part ?? x, rm, rv, stats], prm, indexGroups(C))));
  part?.dispose();
  orTemp(weight, () => full([C], 1), (w) => orTemp(bias, () => Tensor.zeros([C]), (b) =>
    dispatch(rowCode('bnNorm', m), [x, w, b, stats, y], prm, rowGroups(m, R))));
  return { y, saved: { stats, train } };
}

/** batch_norm backward: dx (N,C,...), dweight and dbias (C), from the statistics saved by the forward. */
export function batchNormBackward(dy: Tensor, { stats, train }: BatchNormSaved, x: Tensor, weight: Tensor | null): { dx: Tensor; dweight: Tensor; dbias: Tensor } {
  const { N, C, S } = channels(x.shape);
  const m = normMode(S);
  const R = N * C;
  const prm = params({ R, D: S, C, flags: +train });
  const dx = Tensor.empty(x.shape), dweight = Tensor.empty([C]), dbias = Tensor.empty([C]);
  const part = Tensor.empty([N, 2, C]);
  dispatch(rowCode('bnGrad', m), [x, dy, stats, part], prm, rowGroups(m, R));
  dispatch(COLSUM2, [part, dweight, dbias], params({ D: C, K: N }), indexGroups(C));
  part.dispose();
  orTemp(weight, () => full([C], 1), (w) => dispatch(rowCode('bnDx', m), [x, dy, w, stats, dweight, dbias, dx], prm, rowGroups(m, R)));
  return { dx, dweight, dbias };
}

// ---- layer norm launchers ----

const rowsOf = (x: Tensor) => {
  const D = x.shape[x.ndim - 1];
  if (x.ndim < 1 || D === 0) throw new Error(`layer_norm needs a non-empty last dim, got [${x.shape}]`);
  return { R: x.size / D, D };
};

/** What the layer_norm forward saves for its backward. */
export type LayerNormSaved = {
  /** (2,R): mean, rstd. */
  stats: Tensor;
};

/** layer_norm forward over the last dim. */
export function layerNormForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): { y: Tensor; saved: LayerNormSaved } {
  const { R, D } = rowsOf(x);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.size !== D) throw new Error(`layer_norm: ${name} has ${t.size} elements, expected ${D} (last dim of [${x.shape}])`);
  }
  const m = normMode(D);
  const y = Tensor.empty(x.shape), stats = Tensor.empty([2, R]);
  orTemp(weight, () => full([D], 1), (w) => orTemp(bias, () => Tensor.zeros([D]), (b) =>
    dispatch(rowCode('lnFwd', m), [x, w, b, stats, y], params({ R, D, eps }), rowGroups(m, R))));
  return { y, saved: { stats } };
}

/** Rows per block of the weight/bias gradient's partial sums. */
const BLOCK = 64;

/** layer_norm backward: dx (R,D) and dweight, dbias (D). */
export function layerNormBackward(dy: Tensor, { stats }: LayerNormSaved, x: Tensor, weight: Tensor | null): { dx: Tensor; dweight: Tensor; dbias: Tensor } {
  const { R, D } = rowsOf(x);
  const m = normMode(D);
  const dx = Tensor.empty(x.shape), dweight = Tensor.empty([D]), dbias = Tensor.empty([D]);
  orTemp(weight, () => full([D], 1), (w) => dispatch(rowCode('lnBwd', m), [x, dy, w, stats, dx], params({ R, D }), rowGroups(m, R)));
  const K = Math.ceil(R / BLOCK);
  const part = Tensor.empty([K, 2, D]);
  dispatch(LN_WB_PARTIAL, [x, dy, stats, part], params({ R, D, K, L: BLOCK }), indexGroups(K * D));
  dispatch(COLSUM2, [part, dweight, dbias], params({ D, K }), indexGroups(D));
  part.dispose();
  return { dx, dweight, dbias };
}
