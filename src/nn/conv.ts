import { Tensor, pair, type Pair } from '../engine/tensor.js';
import { conv2d } from '../autograd/conv2d.js';
import { DEFAULT_INIT, type LayerInit } from './init.js';
import { Module } from './module.js';

/** nn.Conv2d: weight (O, C, KH, KW), bias (O). */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, kernel: Pair, { stride = 1 as Pair, padding = 0 as Pair, bias = true, init = DEFAULT_INIT as LayerInit } = {}) {
    super();
    const [kh, kw] = pair(kernel);
    const fanIn = inChannels * kh * kw;
    this.weight = this.registerParameter('weight', init.weight([outChannels, inChannels, kh, kw], fanIn));
    this.bias = bias ? this.registerParameter('bias', init.bias([outChannels], fanIn)) : null;
    this.stride = pair(stride);
    this.padding = pair(padding);
  }

  /** With `relu`, the activation is fused into the convolution. */
  forward(x: Tensor, { relu = false } = {}): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, relu });
  }
}
