// Float64 reference for nn.LSTM (batch_first, zero initial states), written from
// PyTorch's documented equations, one loop per time step:
//   i = σ(W_ii x + b_ii + W_hi h + b_hi)   f = σ(W_if x + b_if + W_hf h + b_hf)
//   g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
//   c' = f c + i g                         h' = o tanh(c')
// with the rows of weight_ih / weight_hh / biases in the order i, f, g, o.
import type { Arr } from './cpu.js';

export interface LstmRefParams {
  wIh: Arr; // [4H, In]
  wHh: Arr; // [4H, H]
  bIh: Arr; // [4H]
  bHh: Arr; // [4H]
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** One direction over a sequence seq[n][t] (arrays of In), returning out[n][t] (arrays of H). */
function direction(seq: number[][][], p: LstmRefParams, H: number, reverse: boolean): number[][][] {
  const In = p.wIh.shape[1];
  return seq.map((xs) => {
    const T = xs.length;
    const out: number[][] = new Array(T);
    let h = new Array(H).fill(0), c = new Array(H).fill(0);
    for (let step = 0; step < T; step++) {
      const t = reverse ? T - 1 - step : step;
      const a = new Array(4 * H);
      for (let r = 0; r < 4 * H; r++) {
        let v = p.bIh.data[r] + p.bHh.data[r];
        for (let k = 0; k < In; k++) v += p.wIh.data[r * In + k] * xs[t][k];
        for (let k = 0; k < H; k++) v += p.wHh.data[r * H + k] * h[k];
        a[r] = v;
      }
      const nh = new Array(H), nc = new Array(H);
      for (let j = 0; j < H; j++) {
        const i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = Math.tanh(a[2 * H + j]), o = sigmoid(a[3 * H + j]);
        nc[j] = f * c[j] + i * g;
        nh[j] = o * Math.tanh(nc[j]);
      }
      h = nh;
      c = nc;
      out[t] = h;
    }
    return out;
  });
}

/** x (N, T, In) -> (N, T, D*H); params ordered [l0, l0_reverse, l1, ...]. */
export function lstmRef(x: Arr, params: LstmRefParams[], H: number, layers: number, bidirectional: boolean): Arr {
  const [N, T, In] = x.shape;
  const D = bidirectional ? 2 : 1;
  let seq: number[][][] = Array.from({ length: N }, (_, n) =>
    Array.from({ length: T }, (_, t) => Array.from(x.data.subarray((n * T + t) * In, (n * T + t + 1) * In))),
  );
  for (let k = 0; k < layers; k++) {
    const outs = Array.from({ length: D }, (_, d) => direction(seq, params[k * D + d], H, d === 1));
    seq = seq.map((xs, n) => xs.map((_, t) => outs.flatMap((o) => o[n][t])));
  }
  return { data: Float64Array.from(seq.flat(2)), shape: [N, T, D * H] };
}

/** lstmRef on a flat input list [x, wIh, wHh, bIh, bHh, wIh_reverse, ...] (for numericGrad). */
export function lstmRefFlat(xs: Arr[], H: number, layers: number, bidirectional: boolean): Arr {
  const params: LstmRefParams[] = [];
  for (let i = 1; i < xs.length; i += 4) params.push({ wIh: xs[i], wHh: xs[i + 1], bIh: xs[i + 2], bHh: xs[i + 3] });
  return lstmRef(xs[0], params, H, layers, bidirectional);
}
