// Batched matmul C = op(A) op(B) [+ bias] [relu], register-blocked, no workgroup memory
// (barriers are costly on CPU adapters), generated per layout:
//   A is (M,K) row-major, or (K,M) when transA;  B is (K,N), or (N,K) when transB.
// Each invocation computes a TM x TN block of C with vec4 accumulators; the K loop
// takes 4 steps at a time, reading vec4s along whichever axis is contiguous (when it
// is a multiple of 4) and masking only the K tail.

import { gpu } from '../device.js';
import { dispatch } from '../runtime.js';
import { Tensor } from '../tensor.js';

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor | null; // (N)
  relu?: boolean;
}

/** Block shape: each invocation does TM x TN outputs; a workgroup is WM x WN invocations. */
export interface MatmulConfig {
  TM: number;
  TN: number; // multiple of 4
  WM: number;
  WN: number;
}

interface Variant extends MatmulConfig {
  transA: boolean;
  transB: boolean;
  vecA: boolean; // A's contiguous axis is a multiple of 4
  vecB: boolean;
  vecC: boolean; // N is a multiple of 4
  ktail: boolean; // K is not a multiple of 4
  bias: boolean;
  relu: boolean;
}

const range = (n: number) => [...Array(n).keys()];
const C4 = ['x', 'y', 'z', 'w'];

function code(v: Variant): string {
  const { TM, TN, WM, WN } = v;
  const TN4 = TN / 4;
  const ld = (name: string, vec: boolean, idx: string, mask: string | null) => {
    if (vec) {
      const load = `${name}4[(${idx}) / 4u]`;
      return mask ? `select(vec4<f32>(0.0), ${load}, ${mask})` : load;
    }
    // four scalars along the contiguous axis; `q` masks the K tail element by element
    return `vec4<f32>(${range(4).map((q) => {
      const load = `${name}[${idx} + ${q}u]`;
      return mask ? `select(0.0, ${load}, ${mask.replace(/\bQ\b/g, `${q}u`)})` : load;
    }).join(', ')})`;
  };

  // One K step of 4: loads into registers, then TM x TN/4 x 4 vec4 FMAs.
  const body = (tail: boolean): string => {
    const lines: string[] = [];
    const kmask = (kk: number) => (tail ? `k + ${kk}u < p.K` : null);
    let aAt: (r: number, kk: number) => string;
    if (!v.transA) {
      // A (M,K): per row a vec4 over k..k+3
      for (const r of range(TM)) lines.push(`let a${r} = ${ld('A', v.vecA, `aB + (m0 + ${r}u) * p.K + k`, tail ? 'k + Q < p.K' : null)};`);
      aAt = (r, kk) => `a${r}.${C4[kk]}`;
    } else {
      // A (K,M): per k a vec4 over 4 rows
      for (const kk of range(4)) for (const g of range(TM / 4)) lines.push(`let a${kk}_${g} = ${ld('A', v.vecA, `aB + (k + ${kk}u) * p.M + m0 + ${4 * g}u`, kmask(kk))};`);
      aAt = (r, kk) => `a${kk}_${r >> 2}.${C4[r & 3]}`;
    }
    let bAt: (kk: number, j: number) => string;
    if (!v.transB) {
      // B (K,N): per k, TN/4 vec4s along n
      for (const kk of range(4)) for (const j of range(TN4)) lines.push(`let b${kk}_${j} = ${ld('B', v.vecB, `bB + (k + ${kk}u) * p.N + n0 + ${4 * j}u`, kmask(kk))};`);
      bAt = (kk, j) => `b${kk}_${j}`;
    } else {
      // B (N,K): per column a vec4 over k, transposed in registers
      for (const c of range(TN)) lines.push(`let b${c} = ${ld('B', v.vecB, `bB + (n0 + ${c}u) * p.K + k`, tail ? 'k + Q < p.K' : null)};`);
      bAt = (kk, j) => `vec4<f32>(${range(4).map((q) => `b${4 * j + q}.${C4[kk]}`).join(', ')})`;
    }
    if (v.transB) for (const kk of range(4)) for (const j of range(TN4)) lines.push(`let bt${kk}_${j} = ${bAt(kk, j)};`);
    const bv = v.transB ? (kk: number, j: number) => `bt${kk}_${j}` : bAt;
    for (const kk of range(4)) for (const r of range(TM)) for (const j of range(TN4)) {
      lines.push(`acc${r}_${j} = fma(vec4<f32>(${aAt(r, kk)}), ${bv(kk, j)}, acc${r}_${j});`);
    }
    return lines.join('\n    ');
  };

  const decl = (name: string, vec: boolean, rw = false) =>
    `var<storage, ${rw ? 'read_write' : 'read'}> ${name}${vec ? '4' : ''}: array<${vec ? 'vec4<f32>' : 'f32'}>;`;
  const epilogue = range(TM).map((r) => range(TN4).map((j) => {
    const col = `n0 + ${4 * j}u`;
    let val = `acc${r}_${j}`;
    if (v.bias) val = `(${val} + vec4<f32>(${range(4).map((q) => `BIAS[min(${col} + ${q}u, p.N - 1u)]`).join(', ')}))`;
    if (v.relu) val = `max(${val}, vec4<f32>(0.0))`;
    const row = `m0 + ${r}u`;
    if (v.vecC) return `if (${row} < p.M && ${col} < p.N) { C4[(cB + (${row}) * p.N + ${col}) / 4u] = ${val}; }`;
    return `if (${row} < p.M) { let v = ${val}; ${range(4).map((q) => `if (${col} + ${q}u < p.N) { C[cB + (${row}) * p.N + ${col} + ${q}u] = v.${C4[q]}; }`).join(' ')} }`;
  }).join('\n  ')).join('\n  ');

  return /* wgsl */ `
struct P { M: u32, N: u32, K: u32, sA: u32, sB: u32 }
@group(0) @binding(0) ${decl('A', v.vecA)}
@group(0) @binding(1) ${decl('B', v.vecB)}
@group(0) @binding(2) ${decl('C', v.vecC, true)}
${v.bias ? '@group(0) @binding(3) var<storage, read> BIAS: array<f32>;' : ''}
@group(0) @binding(${v.bias ? 4 : 3}) var<uniform> p: P;
// C[b] (M,N) = op(A[b]) op(B[b]); workgroup (x, y, z) = (N / ${WN * TN}, M / ${WM * TM}, batch)
@compute @workgroup_size(${WM * WN})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m0 = (wid.y * ${WM}u + li / ${WN}u) * ${TM}u;
  let n0 = (wid.x * ${WN}u + li % ${WN}u) * ${TN}u;
  let aB = wid.z * p.sA;
  let bB = wid.z * p.sB;
  let cB = wid.z * p.M * p.N;
  ${range(TM).map((r) => range(TN4).map((j) => `var acc${r}_${j} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let K4 = p.K & ~3u;
  for (var k = 0u; k < K4; k += 4u) {
    ${body(false)}
  }${v.ktail ? `
  if (K4 < p.K) {
    let k = K4;
    ${body(true)}
  }` : ''}
  ${epilogue}
}`;
}

const codes = new Map<string, string>();

/** Block configuration for this adapter and shape. */
export function matmulConfig(N: number): MatmulConfig {
  // CPU adapters: 8 rows per invocation and the workgroup spread along N, so that A's
  // loads are the same for every lane. A small N (a classifier head) folds lanes onto M.
  const TM = gpu().isSoftware ? 8 : 4;
  const TN = N <= 4 ? 4 : 8;
  const WN = Math.min(gpu().isSoftware ? 64 : 16, 2 ** Math.ceil(Math.log2(Math.ceil(N / TN))));
  return { TM, TN, WM: 64 / WN, WN };
}

/**
 * C = op(A) op(B) [+ bias] [relu] over a leading batch dim. A and B are (batch?, ., .);
 * a batch of 1 broadcasts.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}, config?: MatmulConfig): Tensor {
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
  const cfg = config ?? matmulConfig(N);
  const v: Variant = {
    ...cfg,
    transA,
    transB,
    vecA: (transA ? M : K) % 4 === 0,
    vecB: (transB ? K : N) % 4 === 0,
    vecC: N % 4 === 0,
    ktail: K % 4 !== 0,
    bias: !!opts.bias,
    relu: !!opts.relu,
  };
  const key = JSON.stringify(v);
  let src = codes.get(key);
  if (!src) codes.set(key, (src = code(v)));
  const gx = Math.ceil(N / (cfg.WN * cfg.TN)), gy = Math.ceil(M / (cfg.WM * cfg.TM));
  if (gx > 65535 || gy > 65535 || batch > 65535) throw new Error(`matmul too large to dispatch: [${a.shape}] x [${b.shape}]`);
  const bindings = opts.bias ? [a, b, c, opts.bias] : [a, b, c];
  dispatch(src, bindings, [M, N, K, batchA === 1 ? 0 : M * K, batchB === 1 ? 0 : K * N], [gx, gy, batch]);
  return c;
}
