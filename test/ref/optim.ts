// Float64 CPU references for the optimisers, written from PyTorch's formulas
// (torch/optim/adam.py and sgd.py single-tensor paths, torch/nn/utils/clip_grad.py).

export interface AdamRefState {
  step: number;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamRefHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** One Adam step on p (in place); state starts as { step: 0, m: 0, v: 0 }. */
export function adamStepRef(p: Float64Array, grad: ArrayLike<number>, st: AdamRefState, h: AdamRefHyper): void {
  st.step += 1;
  const bc1 = 1 - Math.pow(h.beta1, st.step);
  const bc2 = 1 - Math.pow(h.beta2, st.step);
  for (let i = 0; i < p.length; i++) {
    let g = grad[i];
    if (h.weightDecay !== 0) g = g + h.weightDecay * p[i];
    st.m[i] = h.beta1 * st.m[i] + (1 - h.beta1) * g;
    st.v[i] = h.beta2 * st.v[i] + (1 - h.beta2) * g * g;
    const denom = Math.sqrt(st.v[i]) / Math.sqrt(bc2) + h.eps;
    p[i] = p[i] - (h.lr / bc1) * (st.m[i] / denom);
  }
}

export function adamRefState(n: number): AdamRefState {
  return { step: 0, m: new Float64Array(n), v: new Float64Array(n) };
}

export interface SgdRefHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One SGD step on p (in place); buf is null before the first momentum step. */
export function sgdStepRef(p: Float64Array, grad: ArrayLike<number>, buf: Float64Array | null, h: SgdRefHyper): Float64Array | null {
  const d = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) d[i] = grad[i] + h.weightDecay * p[i];
  let step: Float64Array = d;
  if (h.momentum !== 0) {
    if (buf === null) buf = Float64Array.from(d);
    else for (let i = 0; i < p.length; i++) buf[i] = h.momentum * buf[i] + (1 - h.dampening) * d[i];
    step = h.nesterov ? d.map((x, i) => x + h.momentum * buf![i]) : buf;
  }
  for (let i = 0; i < p.length; i++) p[i] -= h.lr * step[i];
  return buf;
}

/** The total L2 norm of `grads` and the grads scaled by min(1, maxNorm / (norm + 1e-6)). */
export function clipRef(grads: ArrayLike<number>[], maxNorm: number): { norm: number; scaled: Float64Array[] } {
  let sq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  return { norm, scaled: grads.map((g) => Float64Array.from(g, (x) => x * coef)) };
}
