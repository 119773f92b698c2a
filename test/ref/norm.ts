// Float64 CPU references for batch_norm and layer_norm: straightforward loops.
import { type Arr } from './cpu.js';

export interface BatchNormRefOpts {
  training: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * batch_norm over (N, C, ...) per channel. Training: batch mean and biased variance,
 * and running stats moved towards the mean and the unbiased variance (returned, the
 * inputs are not modified). Eval: running stats.
 */
export function batchNormRef(x: Arr, w: Arr | null, b: Arr | null, rm: Arr | null, rv: Arr | null, { training, momentum = 0.1, eps = 1e-5 }: BatchNormRefOpts): { y: Arr; rm: number[] | null; rv: number[] | null } {
  const [N, C] = x.shape;
  const S = x.data.length / (N * C);
  const n = N * S;
  const y = new Float64Array(x.data.length);
  const newRm: number[] = [], newRv: number[] = [];
  for (let c = 0; c < C; c++) {
    const at = (k: number) => Math.floor(k / S) * C * S + c * S + (k % S);
    let mean: number, variance: number;
    if (training || !rm || !rv) {
      let s = 0;
      for (let k = 0; k < n; k++) s += x.data[at(k)];
      mean = s / n;
      let q = 0;
      for (let k = 0; k < n; k++) q += (x.data[at(k)] - mean) ** 2;
      variance = q / n;
      if (rm && rv) {
        newRm.push((1 - momentum) * rm.data[c] + momentum * mean);
        newRv.push((1 - momentum) * rv.data[c] + (momentum * q) / (n - 1));
      }
    } else {
      mean = rm.data[c];
      variance = rv.data[c];
    }
    const scale = (w ? w.data[c] : 1) / Math.sqrt(variance + eps);
    for (let k = 0; k < n; k++) y[at(k)] = (x.data[at(k)] - mean) * scale + (b ? b.data[c] : 0);
  }
  const updated = training && rm && rv;
  return { y: { data: y, shape: [...x.shape] }, rm: updated ? newRm : null, rv: updated ? newRv : null };
}

/** layer_norm over the last dim with biased variance. */
export function layerNormRef(x: Arr, w: Arr | null, b: Arr | null, eps = 1e-5): Arr {
  const D = x.shape[x.shape.length - 1];
  const y = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / D; r++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += x.data[r * D + j];
    const mean = s / D;
    let q = 0;
    for (let j = 0; j < D; j++) q += (x.data[r * D + j] - mean) ** 2;
    const rstd = 1 / Math.sqrt(q / D + eps);
    for (let j = 0; j < D; j++) y[r * D + j] = (x.data[r * D + j] - mean) * rstd * (w ? w.data[j] : 1) + (b ? b.data[j] : 0);
  }
  return { data: y, shape: [...x.shape] };
}
