// Batched matmul C = op(A) op(B) [+ bias] [relu], register-blocked, no workgroup memory
// (barriers are costly on CPU adapters), generated per layout:
//   A is (M,K) row-major, or (K,M) when transA;  B is (K,N), or (N,K) when transB.
// Each invocation computes a TM x TN block of C with vec4 accumulators; the K loop
// takes 4 steps at a time, reading vec4s along whichever axis is contiguous (when rows
// are 4-aligned), then up to 3 single steps. The epilogue's switches are params, so
// one pipeline per layout serves every shape.
// On CPU adapters with subgroups (`sg` = the subgroup size) the TM rows of A that the lanes
// of a subgroup share are read one row per lane and handed round with subgroupBroadcast:
// there a load that is the same for every lane costs a bounds-checked scalar load per
// component, while a load that differs per lane serves all the lanes of a SIMD vector at
// once; this doubles matmul throughput on lavapipe (bench/NOTES.md).

import { broadcastSubgroup, cpuKernels } from '../kernels.js';
import { gpu } from '../device.js';
import { config, perDevice, splitToFit } from '../config.js';
import { dispatch, type Binding } from '../runtime.js';
import { bindElems, Tensor } from '../tensor.js';
import { enableSubgroups, shareAcross, subgroupParam } from './subgroup.js';
import { C4, range, kernelCode } from './codegen.js';

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor | null; // (N)
  relu?: boolean;
}

/** Block shape: each invocation does TM x TN outputs; a workgroup is WM x WN invocations. */
/** Lanes of a workgroup: WM x WN = WG. */
const WG = 64;

export interface MatmulConfig {
  TM: number;
  TN: number; // multiple of 4
  WM: number; // WM x WN = WG lanes, a param of the kernel
  WN: number;
  sg?: number; // subgroup size for A's rows by broadcast (WN and TM multiples of it); 0: off
}

interface Variant extends MatmulConfig {
  transA: boolean;
  transB: boolean;
  vecA: boolean; // A's rows are vec4-aligned along the contiguous axis
  vecB: boolean;
}

// Epilogue switches, read from the params at run time (no pipeline per combination).
const ACCUMULATE = 1, BIAS = 2, RELU = 4;


function code(v: Variant): string {
  const { TM, TN } = v;
  const TN4 = TN / 4;
  // A vec4 of 4 consecutive elements along a contiguous axis.
  const ld4 = (name: string, vec: boolean, idx: string) =>
    vec ? `${name}4[(${idx}) / 4u]` : `vec4<f32>(${range(4).map((q) => `${name}[${idx} + ${q}u]`).join(', ')})`;
  const at = (name: string, vec: boolean, idx: string) => (vec ? `${name}4[(${idx}) / 4u][(${idx}) % 4u]` : `${name}[${idx}]`);

  // Four K steps: register loads, then TM x TN/4 x 4 vec4 FMAs.
  const lines: string[] = [];
  let aAt: (r: number, kk: number) => string;
  const sg = v.sg ?? 0;
  if (sg) {
    // the TM rows m0 + f, a vec4 of 4 K steps each, shared across the subgroup
    const rows = shareAcross(sg, TM, 'av', (f) => v.transA
      ? `vec4<f32>(${range(4).map((kk) => at('A', v.vecA, `aB + (k + ${kk}u) * p.lda + m0 + ${f}`)).join(', ')})`
      : ld4('A', v.vecA, `aB + (m0 + ${f}) * p.lda + k`));
    lines.push(...rows.loads);
    aAt = (r, kk) => rows.at(r, `.${C4[kk]}`);
  } else if (!v.transA) {
    for (const r of range(TM)) lines.push(`let a${r} = ${ld4('A', v.vecA, `aB + (m0 + ${r}u) * p.lda + k`)};`);
    aAt = (r, kk) => `a${r}.${C4[kk]}`;
  } else {
    for (const kk of range(4)) for (const g of range(TM / 4)) lines.push(`let a${kk}_${g} = ${ld4('A', v.vecA, `aB + (k + ${kk}u) * p.lda + m0 + ${4 * g}u`)};`);
    aAt = (r, kk) => `a${kk}_${r >> 2}.${C4[r & 3]}`;
  }
  let bAt: (kk: number, j: number) => string;
  if (!v.transB) {
    for (const kk of range(4)) for (const j of range(TN4)) lines.push(`let b${kk}_${j} = ${ld4('B', v.vecB, `bB + (k + ${kk}u) * p.ldb + n0 + ${4 * j}u`)};`);
    bAt = (kk, j) => `b${kk}_${j}`;
  } else {
    for (const c of range(TN)) lines.push(`let b${c} = ${ld4('B', v.vecB, `bB + (n0 + ${c}u) * p.ldb + k`)};`);
    for (const kk of range(4)) for (const j of range(TN4)) lines.push(`let bt${kk}_${j} = vec4<f32>(${range(4).map((q) => `b${4 * j + q}.${C4[kk]}`).join(', ')});`);
    bAt = (kk, j) => `bt${kk}_${j}`;
  }
  for (const kk of range(4)) for (const r of range(TM)) for (const j of range(TN4)) {
    lines.push(`acc${r}_${j} = fma(vec4<f32>(${aAt(r, kk)}), ${bAt(kk, j)}, acc${r}_${j});`);
  }
  // The K tail, one step at a time with scalar loads.
  const aT = (r: number) => at('A', v.vecA, v.transA ? `aB + k * p.lda + m0 + ${r}u` : `aB + (m0 + ${r}u) * p.lda + k`);
  const bT = (c: number) => at('B', v.vecB, v.transB ? `bB + (n0 + ${c}u) * p.ldb + k` : `bB + k * p.ldb + n0 + ${c}u`);
  const tail = [
    ...range(TN4).map((j) => `let t${j} = vec4<f32>(${range(4).map((q) => bT(4 * j + q)).join(', ')});`),
    ...range(TM).map((r) => `{ let a = vec4<f32>(${aT(r)}); ${range(TN4).map((j) => `acc${r}_${j} = fma(a, t${j}, acc${r}_${j});`).join(' ')} }`),
  ];

  const epilogue = range(TM).map((r) => range(TN4).map((j) => {
    const row = `m0 + ${r}u`, col = `n0 + ${4 * j}u`;
    return `if (${row} < p.M) { store(cB + (${row}) * p.ldc, ${col}, acc${r}_${j}); }`;
  }).join('\n  ')).join('\n  ');

  const decl = (name: string, vec: boolean) => `var<storage, read> ${name}${vec ? '4' : ''}: array<${vec ? 'vec4<f32>' : 'f32'}>;`;
  return /* wgsl */ `${enableSubgroups(sg)}
struct P { M: u32, N: u32, K: u32, lda: u32, ldb: u32, ldc: u32, offA: u32, offB: u32, offC: u32, offBias: u32, sA: u32, sB: u32, sC: u32, flags: u32, WM: u32, WN: u32 }
@group(0) @binding(0) ${decl('A', v.vecA)}
@group(0) @binding(1) ${decl('B', v.vecB)}
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

// C[row + n .. n+3] = epilogue(acc): [+ C] [+ bias] [relu], columns past N skipped
fn store(row: u32, n: u32, acc: vec4<f32>) {
  for (var q = 0u; q < 4u; q++) {
    let col = n + q;
    if (col >= p.N) { return; }
    var x = acc[q];
    if ((p.flags & ${ACCUMULATE}u) != 0u) { x += C[row + col]; }
    if ((p.flags & ${BIAS}u) != 0u) { x += BIAS[p.offBias + col]; }
    if ((p.flags & ${RELU}u) != 0u) { x = max(x, 0.0); }
    C[row + col] = x;
  }
}

// C[b] (M,N) = op(A[b]) op(B[b]) with row strides lda, ldb, ldc; workgroup (x, y, z) = (N / (WN * ${TN}), M / (WM * ${TM}), batch)
// (WM x WN lanes, WM * WN = ${WG}: a param, so that one pipeline serves every spread)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32${subgroupParam(sg)}) {
  let m0 = (wid.y * p.WM + li / p.WN) * ${TM}u;
  let n0 = (wid.x * p.WN + li % p.WN) * ${TN}u;
  let aB = p.offA + wid.z * p.sA;
  let bB = p.offB + wid.z * p.sB;
  let cB = p.offC + wid.z * p.sC;
  ${range(TM).map((r) => range(TN4).map((j) => `var acc${r}_${j} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let K4 = p.K & ~3u;
  for (var k = 0u; k < K4; k += 4u) {
    ${lines.join('\n    ')}
  }
  for (var k = K4; k < p.K; k++) {
    ${tail.join('\n    ')}
  }
  ${epilogue}
}`;
}


/** Block configuration for this adapter and shape. */
export function matmulConfig(N: number, M = Infinity): MatmulConfig {
  // CPU adapters with subgroups: 16 rows of A shared by broadcast, 4 columns a lane, the
  // workgroup spread along N (WN lanes, a multiple of the subgroup size, so that the
  // lanes of a subgroup share their rows: subgroups are runs of consecutive invocations).
  const isSoftware = cpuKernels(), sg = broadcastSubgroup();
  if (sg && 16 % sg === 0) {
    const WN = Math.min(64, 2 ** Math.ceil(Math.log2(Math.ceil(N / 4))));
    // 8 rows where there are no more (an LSTM step's batch): 16 would load as many again for nothing
    if (WN % sg === 0) return { TM: Math.max(sg, M <= 8 ? 8 : 16), TN: 4, WM: WG / WN, WN, sg };
  }
  // Otherwise on CPU adapters: 8 rows per invocation and the workgroup spread along N, so
  // that A's loads are the same for every lane. A small N (a classifier head) folds lanes onto M.
  const TM = isSoftware ? 8 : 4;
  const TN = N <= 4 ? 4 : 8;
  const WN = Math.min(isSoftware ? 64 : 16, 2 ** Math.ceil(Math.log2(Math.ceil(N / TN))));
  return { TM, TN, WM: WG / WN, WN };
}

/**
 * C = op(A) op(B) [+ bias] [relu] over a leading batch dim. A and B are (batch?, ., .);
 * a batch of 1 broadcasts. Operands larger than one storage binding are split into
 * blocks (rows of C, columns of C, or K with accumulation) bound by byte range.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}, tiles?: MatmulConfig): Tensor {
  const transA = !!opts.transA, transB = !!opts.transB;
  if (a.ndim < 2 || b.ndim < 2) throw new Error(`matmul needs 2-d or batched operands, got [${a.shape}] and [${b.shape}]`);
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const Kb = transB ? bc : br, N = transB ? br : bc;
  if (K !== Kb) throw new Error(`matmul: inner sizes differ: [${a.shape}]${transA ? 'ᵀ' : ''} x [${b.shape}]${transB ? 'ᵀ' : ''}`);
  const batchA = a.size / (ar * ac), batchB = b.size / (br * bc);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`matmul: batch sizes ${batchA} and ${batchB} differ`);
  const batch = Math.max(batchA, batchB);
  const lead = (batchA >= batchB ? a : b).shape.slice(0, -2);
  const c = Tensor.empty([...lead, M, N]);
  if (c.size === 0) return c;
  if (K === 0) {
    c.write(new Float32Array(c.size)); // an empty sum
    return c;
  }
  const cfg = tiles ?? matmulConfig(N, M);
  if (cfg.WM * cfg.WN !== WG) throw new Error(`matmul: config ${JSON.stringify(cfg)} needs WM x WN = ${WG} lanes`);
  if (cfg.sg && (cfg.WN % cfg.sg || cfg.TM % cfg.sg || cfg.sg !== gpu().subgroupSize)) throw new Error(`matmul: config ${JSON.stringify(cfg)} needs WN and TM multiples of sg, and sg the device's subgroup size (${gpu().subgroupSize})`);
  const limit = maxBindingElements();
  const sA = batchA === 1 ? 0 : M * K, sB = batchB === 1 ? 0 : K * N;
  if (a.size <= limit && b.size <= limit && c.size <= limit) {
    run(cfg, { a, b, c, bias: opts.bias ?? null, transA, transB, relu: !!opts.relu, accumulate: false }, { M, N, K, m0: 0, n0: 0, k0: 0, sA, sB, batch, b0: 0 });
    return c;
  }
  const ops: Operands = { a, b, c, bias: opts.bias ?? null, transA, transB, relu: !!opts.relu, accumulate: false };
  if (batch > 1) {
    // runs of whole matrices; a binding's offset is aligned down, so each may span up to one alignment more
    const slack = config().offsetAlign;
    const runs = splitToFit(`matmul [${a.shape}] x [${b.shape}]`, batch, [4 * sA, 4 * sB, 4 * M * N], { aligned: false, extra: [4 * (M * K - sA) + slack, 4 * (K * N - sB) + slack, slack] });
    for (const [b0, n] of runs) run(cfg, ops, { M, N, K, m0: 0, n0: 0, k0: 0, sA, sB, batch: n, b0 });
    return c;
  }
  // Halve the block along the dimension that bounds the operand that does not fit (each
  // binding's offset is aligned down: up to one alignment more).
  const room = limit - config().offsetAlign / 4;
  let mb = M, nb = N, kb = K;
  const span = () => ({ A: transA ? kb * M : mb * K, B: transB ? nb * K : kb * N, C: mb * N });
  for (let s = span(); s.A > room || s.B > room || s.C > room; s = span()) {
    if (s.C > room || (s.A > room && !transA)) mb = Math.ceil(mb / 2);
    else if (s.A > room) kb = Math.ceil(kb / 2);
    else if (transB) nb = Math.ceil(nb / 2);
    else kb = Math.ceil(kb / 2);
    if (mb < 4 && nb < 4 && kb < 4) throw new Error(`matmul: cannot split [${a.shape}] x [${b.shape}] under the binding limit`);
  }
  for (let m0 = 0; m0 < M; m0 += mb) for (let n0 = 0; n0 < N; n0 += nb) for (let k0 = 0; k0 < K; k0 += kb) {
    const last = k0 + kb >= K;
    run(cfg, { ...ops, bias: k0 === 0 ? ops.bias : null, relu: ops.relu && last, accumulate: k0 > 0 },
      { M: Math.min(mb, M - m0), N: Math.min(nb, N - n0), K: Math.min(kb, K - k0), m0, n0, k0, sA: 0, sB: 0, batch: 1, b0: 0, ldM: M, ldN: N, ldK: K });
  }
  return c;
}

interface Operands {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  bias: Tensor | null;
  transA: boolean;
  transB: boolean;
  relu: boolean;
  accumulate: boolean;
}

interface Block {
  M: number; N: number; K: number; // this block's sizes
  m0: number; n0: number; k0: number; // its origin
  sA: number; sB: number; // batch strides (0: one matrix for every batch index)
  batch: number; b0: number; // matrices in this block, and the first one's batch index
  ldM?: number; ldN?: number; ldK?: number; // full sizes (row strides)
}

/** Bound as the bias when there is none (one per device). */
const noBias = perDevice(() => Tensor.empty([1]).keep());

const maxBindingElements = () => Math.floor(config().maxBindingBytes / 4);

function run(cfg: MatmulConfig, o: Operands, blk: Block): void {
  const { M, N, K, m0, n0, k0 } = blk;
  const LM = blk.ldM ?? M, LN = blk.ldN ?? N, LK = blk.ldK ?? K;
  const lda = o.transA ? LM : LK, ldb = o.transB ? LK : LN;
  // first element and extent of each operand's block (over its `batch` matrices)
  const { sA, sB, b0 } = blk, sC = M * N, more = blk.batch - 1;
  const aFirst = b0 * sA + (o.transA ? k0 * lda + m0 : m0 * lda + k0);
  const aCount = more * sA + (o.transA ? (K - 1) * lda + M : (M - 1) * lda + K);
  const bFirst = b0 * sB + (o.transB ? n0 * ldb + k0 : k0 * ldb + n0);
  const bCount = more * sB + (o.transB ? (N - 1) * ldb + K : (K - 1) * ldb + N);
  // Whole tensors when they fit; else the byte range each block reads.
  const lim = maxBindingElements();
  const whole = o.a.size <= lim && o.b.size <= lim && o.c.size <= lim;
  const bind = (t: Tensor, first: number, count: number): [Binding, number] => (whole ? [t, first] : bindElems(t, first, count));
  const [bindA, offA] = bind(o.a, aFirst, aCount);
  const [bindB, offB] = bind(o.b, bFirst, bCount);
  const [bindC, offC] = bind(o.c, b0 * sC + m0 * LN + n0, more * sC + (M - 1) * LN + N);
  // vec4 loads need rows aligned to 4 elements along the contiguous axis (a lane reads
  // single elements of a transposed A when rows go by broadcast)
  const vecA = lda % 4 === 0 && offA % 4 === 0 && blk.sA % 4 === 0 && !(cfg.sg && o.transA);
  const vecB = ldb % 4 === 0 && offB % 4 === 0 && blk.sB % 4 === 0;
  // (the variant object only on a cache miss: `{ ...cfg, more }` costs V8 about a microsecond)
  const src = kernelCode(['matmul', cfg.TM, cfg.TN, cfg.sg, o.transA, o.transB, vecA, vecB], () => code({ ...cfg, transA: o.transA, transB: o.transB, vecA, vecB }));
  const gx = Math.ceil(N / (cfg.WN * cfg.TN)), gy = Math.ceil(M / (cfg.WM * cfg.TM));
  if (gx > 65535 || gy > 65535 || blk.batch > 65535) throw new Error(`matmul too large to dispatch: (${M}x${K}) x (${K}x${N}) x ${blk.batch}`);
  const flags = (o.accumulate ? ACCUMULATE : 0) | (o.bias ? BIAS : 0) | (o.relu ? RELU : 0);
  dispatch(src, [bindA, bindB, bindC, o.bias ?? noBias()], [M, N, K, lda, ldb, LN, offA, offB, offC, n0, blk.sA, blk.sB, M * N, flags, cfg.WM, cfg.WN], [gx, gy, blk.batch]);
}
