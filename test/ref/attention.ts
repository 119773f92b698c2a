// Float64 reference for scaled dot-product attention over (..., T, d) arrays: the
// textbook formulas with the full T x T probability matrix, no online softmax.
import { type Arr, numel } from './cpu.js';

/** P (n, Tq, Tk) = softmax(q k^T * scale) for each of the n leading (batch, head) pairs. */
function probs(q: Arr, k: Arr, scale: number): { P: Float64Array; n: number; Tq: number; Tk: number; d: number } {
  const [Tq, d] = q.shape.slice(-2), Tk = k.shape.at(-2)!;
  const n = numel(q.shape.slice(0, -2));
  const P = new Float64Array(n * Tq * Tk);
  for (let z = 0; z < n; z++) for (let i = 0; i < Tq; i++) {
    const row = P.subarray((z * Tq + i) * Tk, (z * Tq + i + 1) * Tk);
    let max = -Infinity;
    for (let j = 0; j < Tk; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += q.data[(z * Tq + i) * d + c] * k.data[(z * Tk + j) * d + c];
      row[j] = s * scale;
      max = Math.max(max, row[j]);
    }
    let sum = 0;
    for (let j = 0; j < Tk; j++) sum += (row[j] = Math.exp(row[j] - max));
    for (let j = 0; j < Tk; j++) row[j] /= sum;
  }
  return { P, n, Tq, Tk, d };
}

/** out (..., Tq, d) = softmax(q k^T * scale) v. */
export function attentionRef(q: Arr, k: Arr, v: Arr, scale = 1 / Math.sqrt(q.shape.at(-1)!)): Arr {
  const { P, n, Tq, Tk, d } = probs(q, k, scale);
  const out = new Float64Array(n * Tq * d);
  for (let z = 0; z < n; z++) for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) {
    const p = P[(z * Tq + i) * Tk + j];
    for (let c = 0; c < d; c++) out[(z * Tq + i) * d + c] += p * v.data[(z * Tk + j) * d + c];
  }
  return { data: out, shape: [...q.shape] };
}

/** Logsumexp of each row of q k^T * scale: (..., Tq). */
export function logsumexpRef(q: Arr, k: Arr, scale = 1 / Math.sqrt(q.shape.at(-1)!)): Arr {
  const [Tq, d] = q.shape.slice(-2), Tk = k.shape.at(-2)!;
  const n = numel(q.shape.slice(0, -2));
  const out = new Float64Array(n * Tq);
  for (let z = 0; z < n; z++) for (let i = 0; i < Tq; i++) {
    const s: number[] = [];
    for (let j = 0; j < Tk; j++) {
      let t = 0;
      for (let c = 0; c < d; c++) t += q.data[(z * Tq + i) * d + c] * k.data[(z * Tk + j) * d + c];
      s.push(t * scale);
    }
    const max = Math.max(...s);
    out[z * Tq + i] = max + Math.log(s.reduce((a, x) => a + Math.exp(x - max), 0));
  }
  return { data: out, shape: q.shape.slice(0, -1) };
}

/**
 * Gradients of sum(dout * attention(q, k, v)): with S = q k^T * scale, P = softmax(S),
 * dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = dS K * scale, dK = dS^T Q * scale.
 */
export function attentionGradRef(q: Arr, k: Arr, v: Arr, dout: Arr, scale = 1 / Math.sqrt(q.shape.at(-1)!)): [Arr, Arr, Arr] {
  const { P, n, Tq, Tk, d } = probs(q, k, scale);
  const dq = new Float64Array(q.data.length), dk = new Float64Array(k.data.length), dv = new Float64Array(v.data.length);
  for (let z = 0; z < n; z++) for (let i = 0; i < Tq; i++) {
    const dP = new Float64Array(Tk);
    let rowDot = 0;
    for (let j = 0; j < Tk; j++) {
      for (let c = 0; c < d; c++) dP[j] += dout.data[(z * Tq + i) * d + c] * v.data[(z * Tk + j) * d + c];
      rowDot += dP[j] * P[(z * Tq + i) * Tk + j];
    }
    for (let j = 0; j < Tk; j++) {
      const p = P[(z * Tq + i) * Tk + j];
      const dS = p * (dP[j] - rowDot);
      for (let c = 0; c < d; c++) {
        dv[(z * Tk + j) * d + c] += p * dout.data[(z * Tq + i) * d + c];
        dq[(z * Tq + i) * d + c] += dS * k.data[(z * Tk + j) * d + c] * scale;
        dk[(z * Tk + j) * d + c] += dS * q.data[(z * Tq + i) * d + c] * scale;
      }
    }
  }
  return [{ data: dq, shape: [...q.shape] }, { data: dk, shape: [...k.shape] }, { data: dv, shape: [...v.shape] }];
}
