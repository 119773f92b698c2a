// Scaled dot-product attention, differentiable in q, k and v.
// NOTE: no mask and no dropout on the probabilities (HF ViT's attention dropout is 0).

import { Tensor, numel, sameShape } from '../engine/tensor.js';
import { attentionBackward, attentionForward, type AttentionConfig, type AttentionDims, type AttentionLayout } from '../engine/shaders/attention.js';
import { concat, permute, reshape, slice } from './ops.js';
import { record } from './tape.js';

export interface AttentionOpts {
  /** Multiplies q k^T before the softmax; 1/sqrt(d) by default. */
  scale?: number;
  /** Kernel block configuration (tests and benchmarks); picked per adapter by default. */
  config?: AttentionConfig;
}

/**
 * softmax(q k^T * scale) v for q (..., Tq, d), k and v (..., Tk, d) with the same leading
 * (batch, heads) dims; returns (..., Tq, d).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOpts = {}): Tensor {
  const lead = q.shape.slice(0, -2);
  if (q.ndim < 2 || k.ndim !== q.ndim || !sameShape(k.shape, v.shape) || !sameShape(k.shape.slice(0, -2), lead) || k.shape.at(-1) !== q.shape.at(-1)) {
    throw new Error(`attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] must be (..., Tq, d), (..., Tk, d), (..., Tk, d)`);
  }
  const [Tq, d] = q.shape.slice(-2);
  const dims: AttentionDims = { BH: numel(lead), H: 1, Tq, Tk: k.shape.at(-2)!, d, layout: 'bhtd' };
  return sdpa(q, k, v, dims, [...lead, Tq], opts);
}

/**
 * Multi-head attention on the (B, T, heads * d) tensors that the query/key/value Linear
 * layers produce, returning (B, Tq, heads * d), ready for the output Linear: the kernels
 * address heads through strides, so neither the split nor the merge of heads copies.
 * Equals mergeHeads(attention(splitHeads(q), splitHeads(k), splitHeads(v))).
 */
export function attentionHeads(q: Tensor, k: Tensor, v: Tensor, heads: number, opts: AttentionOpts = {}): Tensor {
  if (q.ndim !== 3 || k.ndim !== 3 || !sameShape(k.shape, v.shape) || k.shape[0] !== q.shape[0] || k.shape[2] !== q.shape[2] || q.shape[2] % heads !== 0) {
    throw new Error(`attentionHeads: q [${q.shape}], k [${k.shape}], v [${v.shape}] must be (B, Tq, ${heads} * d), (B, Tk, ${heads} * d), (B, Tk, ${heads} * d)`);
  }
  const [B, Tq, E] = q.shape;
  const dims: AttentionDims = { BH: B * heads, H: heads, Tq, Tk: k.shape[1], d: E / heads, layout: 'bthd' };
  return sdpa(q, k, v, dims, [B, heads, Tq], opts);
}

/** (B, T, heads * d) -> (B, heads, T, d), a copy (HF ViT's transpose_for_scores). */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, T, E] = x.shape;
  return permute(reshape(x, [B, T, heads, E / heads]), [0, 2, 1, 3]);
}

/** (B, heads, T, d) -> (B, T, heads * d), a copy. */
export function mergeHeads(x: Tensor): Tensor {
  const [B, H, T, d] = x.shape;
  return reshape(permute(x, [0, 2, 1, 3]), [B, T, H * d]);
}

function sdpa(q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims, lseShape: number[], opts: AttentionOpts): Tensor {
  if (dims.Tk === 0 && dims.Tq > 0) throw new Error('attention: no keys (Tk = 0)');
  // NOTE: scale defaults to 1/sqrt(d), as torch.nn.functional.scaled_dot_product_attention.
  const scale = opts.scale ?? 1 / Math.sqrt(dims.d);
  if (dims.d % 4) return padded(q, k, v, dims, lseShape, { ...opts, scale });
  const { y, saved } = attentionForward(q, k, v, dims, scale, lseShape, opts.config);
  // backward keeps q, k, v, the output y and saved.lse (B, heads, Tq), the one tensor it owns
  return record(y, [q, k, v], (dy) => {
    const g = attentionBackward(dy, saved, q, k, v, y, dims, scale, opts.config);
    return [g.dq, g.dk, g.dv].map((gi, i) => {
      if ([q, k, v][i].requiresGrad) return gi;
      gi.dispose();
      return null;
    });
  }, [saved.lse]);
}

/** Head sizes that are not a multiple of 4: zero-pad every head to one (q.k and p.v do not change), attend, cut. */
function padded(q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims, lseShape: number[], opts: AttentionOpts): Tensor {
  const { d, H } = dims, d4 = Math.ceil(d / 4) * 4;
  // rows of e per head: (..., T, e) as they are, or (B, T, H * e) viewed as (B, T, H, e)
  const split = (x: Tensor, e: number) => (dims.layout === 'bhtd' ? x : reshape(x, [x.shape[0], x.shape[1], H, e]));
  const join = (x: Tensor) => (dims.layout === 'bhtd' ? x : reshape(x, [x.shape[0], x.shape[1], -1]));
  const pad = (x: Tensor) => {
    const r = split(x, d);
    return join(concat([r, Tensor.zeros([...r.shape.slice(0, -1), d4 - d])], -1));
  };
  const out = split(sdpa(pad(q), pad(k), pad(v), { ...dims, d: d4 }, lseShape, opts), d4);
  return join(slice(out, out.shape.map(() => 0), [...out.shape.slice(0, -1), d]));
}

export type { AttentionConfig, AttentionLayout };
