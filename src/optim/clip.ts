// Gradient clipping by the global L2 norm (torch.nn.utils.clip_grad_norm_), all on the
// GPU: the norm and the scale are 1-element tensors, nothing is read back.

import { Tensor } from '../engine/tensor.js';
import { globalNorm, normPieces, update, updatePieces } from '../engine/shaders/optim.js';
import { FlatParams } from './flat.js';

/** maxNorm = 0 or Infinity turns clipping off (the norm is still computed). */
function clipping(maxNorm: number): boolean {
  if (!(maxNorm >= 0)) throw new Error(`invalid maxNorm: ${maxNorm}`);
  return maxNorm > 0 && maxNorm !== Infinity;
}

/**
 * The total L2 norm of the gradients of `params` (those with one) and the clip scale
 * min(1, maxNorm / (norm + 1e-6)), without touching the gradients: pass `scale` to
 * `optimizer.step({ gradScale })` to clip inside the update kernel.
 */
export function gradNormScale(params: readonly Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  const on = clipping(maxNorm);
  // an optimiser's parameters: one dispatch an arena window; others: one a gradient
  const flat = FlatParams.of(params);
  if (flat) return normPieces(flat.pieces(flat.pack(), { X: 'G' }, 'sum'), maxNorm, on);
  const grads = params.flatMap((p) => (p.grad ? [p.grad] : []));
  return globalNorm(grads, maxNorm, on);
}

/**
 * Scales the gradients in place so that their global L2 norm is at most `maxNorm`;
 * returns the norm before clipping (a 1-element tensor), as PyTorch.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  const { norm, scale } = gradNormScale(params, maxNorm);
  if (clipping(maxNorm)) {
    const flat = FlatParams.of(params);
    if (flat) updatePieces('scale', flat.pieces(flat.pack(), { G: 'G' }, 'update'), scale, []);
    else for (const p of params) if (p.grad) update('scale', { S: scale, G: p.grad }, []);
  }
  scale.dispose();
  return norm;
}
