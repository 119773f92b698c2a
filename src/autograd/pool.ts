// Differentiable pooling: max_pool2d (argmax indices saved for backward) and
// adaptive_avg_pool2d.

import { Tensor } from '../engine/tensor.js';
import { adaptiveAvgPool2dBackward, adaptiveAvgPool2dForward, maxPool2dBackward, maxPool2dForward, type MaxPool2dOpts } from '../engine/shaders/pool.js';
import { record } from './tape.js';

export type { MaxPool2dOpts } from '../engine/shaders/pool.js';

/** max_pool2d on (N,C,H,W); stride defaults to the kernel, padding to 0; floor output size. */
export function maxPool2d(x: Tensor, opts: MaxPool2dOpts): Tensor {
  const { y, saved } = maxPool2dForward(x, opts); // saved.idx (N,C,OH,OW) i32: h*W+w of each window's max
  return record(y, [x], (dy) => [maxPool2dBackward(dy, saved, x.shape)], [saved.idx]);
}

/** adaptive_avg_pool2d on (N,C,H,W) to (N,C,OH,OW); `[1, 1]` is the global average. */
export function adaptiveAvgPool2d(x: Tensor, outSize: number | readonly [number, number] = 1): Tensor {
  const out: [number, number] = typeof outSize === 'number' ? [outSize, outSize] : [outSize[0], outSize[1]];
  const y = adaptiveAvgPool2dForward(x, out);
  return record(y, [x], (dy) => [adaptiveAvgPool2dBackward(dy, x.shape)]);
}
