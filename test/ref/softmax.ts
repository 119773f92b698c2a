// Float64 CPU references for softmax, log_softmax, cross-entropy and its metrics:
// straightforward loops over rows of the last dim (two-pass max, then sum).

import { type Arr } from './cpu.js';

function rows(a: Arr, f: (row: Float64Array, out: Float64Array) => void): Arr {
  const K = a.shape[a.shape.length - 1];
  const out = new Float64Array(a.data.length);
  for (let b = 0; b < a.data.length; b += K) f(a.data.subarray(b, b + K), out.subarray(b, b + K));
  return { data: out, shape: [...a.shape] };
}

function logSumExp(row: Float64Array): number {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return m + Math.log(s);
}

export function softmaxRef(a: Arr): Arr {
  return rows(a, (row, out) => {
    const lse = logSumExp(row);
    row.forEach((v, k) => (out[k] = Math.exp(v - lse)));
  });
}

export function logSoftmaxRef(a: Arr): Arr {
  return rows(a, (row, out) => {
    const lse = logSumExp(row);
    row.forEach((v, k) => (out[k] = v - lse));
  });
}

const counted = (label: number, K: number, ignore: number) => label !== ignore && label >= 0 && label < K;

/** Mean (over rows not ignored) or summed -log softmax(x)[label], as torch.nn.CrossEntropyLoss. */
export function crossEntropyRef(x: Arr, labels: ArrayLike<number>, reduction: 'mean' | 'sum' = 'mean', ignore = -100): Arr {
  const [N, K] = x.shape;
  let sum = 0, n = 0;
  for (let r = 0; r < N; r++) {
    if (!counted(labels[r], K, ignore)) continue;
    const row = x.data.subarray(r * K, r * K + K);
    sum += logSumExp(row) - row[labels[r]];
    n++;
  }
  return { data: Float64Array.of(reduction === 'mean' ? sum / n : sum), shape: [] };
}

/** d loss / d x for the cross-entropy above (analytic: (softmax - onehot) / n). */
export function crossEntropyGradRef(x: Arr, labels: ArrayLike<number>, reduction: 'mean' | 'sum' = 'mean', ignore = -100): Arr {
  const [N, K] = x.shape;
  let n = 0;
  for (let r = 0; r < N; r++) if (counted(labels[r], K, ignore)) n++;
  const scale = reduction === 'mean' ? 1 / n : 1;
  const p = softmaxRef(x);
  const g = new Float64Array(N * K);
  for (let r = 0; r < N; r++) {
    if (!counted(labels[r], K, ignore)) continue;
    for (let k = 0; k < K; k++) g[r * K + k] = (p.data[r * K + k] - (k === labels[r] ? 1 : 0)) * scale;
  }
  return { data: g, shape: [N, K] };
}

export interface MetricsRef {
  sumLoss: number;
  correct: number;
  count: number;
  bad: number;
  /** (K,K): rows true class, columns first argmax. */
  confusion: Int32Array;
}

export function metricsRef(x: Arr, labels: ArrayLike<number>, ignore = -100): MetricsRef {
  const [N, K] = x.shape;
  const m: MetricsRef = { sumLoss: 0, correct: 0, count: 0, bad: 0, confusion: new Int32Array(K * K) };
  for (let r = 0; r < N; r++) {
    const lab = labels[r];
    if (lab === ignore) continue;
    if (!counted(lab, K, ignore)) {
      m.bad++;
      continue;
    }
    const row = x.data.subarray(r * K, r * K + K);
    let arg = 0;
    for (let k = 1; k < K; k++) if (row[k] > row[arg]) arg = k;
    m.sumLoss += logSumExp(row) - row[lab];
    m.count++;
    if (arg === lab) m.correct++;
    m.confusion[lab * K + arg]++;
  }
  return m;
}
