// conv2d as a differentiable op: the implicit-GEMM forward kernel, then gradients for
// the input, the weight and the bias.

import { Tensor } from '../engine/tensor.js';
import { conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeom, type Conv2dOpts } from '../engine/shaders/conv2d.js';
import { throughRelu } from './ops.js';
import { conv2dGemm } from './conv_gemm.js';
import { record } from './tape.js';

/** Output pixels (N*OH*OW) below which conv2d runs as im2col + matmul (measured on lavapipe: bench/NOTES.md, conv2d). */
export const GEMM_BELOW_PIXELS = 256;

export type { Conv2dOpts } from '../engine/shaders/conv2d.js';

export interface Conv2dOptions extends Conv2dOpts {
  /** Fuses relu into the forward epilogue; backward then masks by the output. */
  relu?: boolean;
  /** 'implicit' GEMM kernels, 'gemm' (im2col + matmul), or 'auto' (by output pixels). */
  algorithm?: 'auto' | 'implicit' | 'gemm';
}

/** y (N,O,OH,OW) = conv2d(x (N,C,H,W), w (O,C,KH,KW)) [+ b (O)] [relu], as torch.nn.functional.conv2d. */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  // Few output pixels (ResNet's last stages): the implicit GEMM's lanes are pixels and
  // would mostly idle; an explicit GEMM spreads the channels instead. Patches that do not
  // overlap (kernel = stride, no padding: ViT's patch embedding) are a matmul over the
  // input rearranged (no copy grows), which the matmul kernels already compiled serve.
  const g = convGeom(x.shape, w.shape, opts);
  const algorithm = opts.algorithm ?? 'auto';
  const patches = g.KH === g.SH && g.KW === g.SW && g.PH === 0 && g.PW === 0 && g.KH * g.KW > 1;
  if (algorithm === 'gemm' || (algorithm === 'auto' && (patches || g.N * g.OH * g.OW < GEMM_BELOW_PIXELS))) return conv2dGemm(x, w, b, opts);
  const y = conv2dForward(x, w, b, opts);
  // NOTE: relu'(0) = 0, as PyTorch
  return record(y, [x, w, b], (dy) => throughRelu(dy, y, opts.relu, (dz) => [
    x.requiresGrad ? conv2dBackwardInput(dz, w, x.shape, opts) : null,
    w.requiresGrad ? conv2dBackwardWeight(dz, x, w.shape, opts) : null,
    b?.requiresGrad ? conv2dBackwardBias(dz) : null,
  ]));
}
