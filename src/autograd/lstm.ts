// nn.LSTM as one differentiable op: multi-layer, optionally bidirectional, batch_first,
// zero initial states. The backward closure runs the layers in reverse, each backward
// through time (see src/engine/shaders/lstm.ts for the layouts).

import { Tensor, dispose, sameShape } from '../engine/tensor.js';
import { binary } from '../engine/shaders/elementwise.js';
import { slice, stridedCopy } from '../engine/shaders/layout.js';
import {
  chunkSteps, fromTimeChunks, lstmLayerBackward, lstmLayerForward, recurrentWeights, toTimeChunks, type LayerSaved, type LayerWeights, type SeqShape,
} from '../engine/shaders/lstm.js';
import { isGradEnabled, record } from './tape.js';

/** One layer and direction: weight_ih [4H, In], weight_hh [4H, H], bias_ih [4H], bias_hh [4H]. */
export interface LstmParams {
  wIh: Tensor;
  wHh: Tensor;
  bIh: Tensor;
  bHh: Tensor;
}

export interface LstmOpts {
  hidden: number;
  layers: number;
  bidirectional: boolean;
}

/** Stacks same-shaped tensors along a new leading dim. */
function stack(ts: readonly Tensor[]): Tensor {
  const y = Tensor.empty([ts.length, ...ts[0].shape]);
  ts.forEach((t, i) => stridedCopy(t, y, [t.size], [1], [1], 0, i * t.size));
  return y;
}

/** One layer's weights stacked over directions (the parameters themselves when there is one). */
function layerWeights(ps: readonly LstmParams[]): { w: LayerWeights; owned: Tensor[] } {
  const sums = ps.map((p) => binary('add', p.bIh, p.bHh));
  const { wF, wB } = recurrentWeights(ps.map((p) => p.wHh));
  if (ps.length === 1) return { w: { wIh: ps[0].wIh, wF, wB, bias: sums[0] }, owned: [...sums, wF, wB] };
  const w = { wIh: stack(ps.map((p) => p.wIh)), wF, wB, bias: stack(sums) };
  dispose(sums);
  return { w, owned: [w.wIh, wF, wB, w.bias] };
}

/** Direction d's part of a gradient stacked over directions, shaped like `like` (a view when aligned). */
function unstack(g: Tensor, d: number, D: number, like: Tensor): Tensor {
  if (D > 1 && g.aligned(d * like.size)) return g.viewAt(d * like.size, like.shape);
  const part = D === 1 ? g : slice(g, [d, ...like.shape.map(() => 0)], [1, ...like.shape]);
  const v = part.view(like.shape);
  part.dispose();
  return v;
}

/**
 * nn.LSTM(In, hidden, layers, batch_first=True, bidirectional) on x (N, T, In) from zero
 * states: returns the last layer's outputs (N, T, D*hidden), forward features first.
 * `params` are ordered [l0, l0_reverse, l1, l1_reverse, ...] (no _reverse when unidirectional).
 */
export function lstm(x: Tensor, params: readonly LstmParams[], o: LstmOpts): Tensor {
  const { hidden: H, layers: L } = o;
  const D = o.bidirectional ? 2 : 1;
  if (x.ndim !== 3) throw new Error(`lstm: x must be (N, T, In), got [${x.shape}]`);
  const [N, T, In] = x.shape;
  if (params.length !== L * D) throw new Error(`lstm: ${L} layers x ${D} directions need ${L * D} parameter sets, got ${params.length}`);
  params.forEach((p, i) => {
    const k = Math.floor(i / D), inK = k === 0 ? In : D * H;
    const want = [[4 * H, inK], [4 * H, H], [4 * H], [4 * H]];
    [p.wIh, p.wHh, p.bIh, p.bHh].forEach((t, j) => {
      if (!sameShape(t.shape, want[j])) throw new Error(`lstm: parameter ${j} of set ${i} is [${t.shape}], want [${want[j]}]`);
    });
  });
  // The widest chunk, in floats per (step, sample): gates (D*4H), dX before the sum over directions (D*In).
  const width = Math.max(4 * D * H, D * In, D * D * H);
  const s: SeqShape = { N, T, H, D, tc: chunkSteps(N, T, width) };
  const inputs = [x, ...params.flatMap((p) => [p.wIh, p.wHh, p.bIh, p.bHh])];
  const grad = isGradEnabled() && inputs.some((t) => t.requiresGrad);

  const layers: { xs: Tensor[]; w: LayerWeights; saved: LayerSaved }[] = [];
  const owned: Tensor[] = [];
  let xs = toTimeChunks(x, s);
  for (let k = 0; k < L; k++) {
    const { w, owned: wOwned } = layerWeights(params.slice(k * D, (k + 1) * D));
    const { y: out, saved } = lstmLayerForward(xs, w, s);
    const keep = [...xs, ...wOwned, ...saved.g, ...saved.hp, ...saved.cp, saved.c];
    if (grad) {
      layers.push({ xs, w, saved });
      owned.push(...keep);
    } else dispose(keep);
    xs = out;
  }
  const y = fromTimeChunks(xs, s);
  dispose(xs);

  return record(y, inputs, (dy) => {
    const grads: (Tensor | null)[] = new Array(params.length * 4).fill(null);
    let dO = toTimeChunks(dy, s);
    for (let k = L - 1; k >= 0; k--) {
      const { xs: xk, w, saved } = layers[k];
      const r = lstmLayerBackward(dO, saved, xk, w, s, k > 0 || x.requiresGrad);
      dispose([dO, xk]);
      dO = r.dxs ?? [];
      for (let d = 0; d < D; d++) {
        const p = params[k * D + d], at = (k * D + d) * 4;
        grads[at] = unstack(r.dWih, d, D, p.wIh);
        grads[at + 1] = unstack(r.dWhh, d, D, p.wHh);
        grads[at + 2] = grads[at + 3] = unstack(r.db, d, D, p.bIh); // b_ih and b_hh get the same gradient
      }
      if (D > 1) dispose([r.dWih, r.dWhh, r.db]);
    }
    const dx = x.requiresGrad ? fromTimeChunks(dO, s) : null;
    dispose(dO);
    return [dx, ...grads];
  }, owned);
}
