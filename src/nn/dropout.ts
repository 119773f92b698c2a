import type { Tensor } from '../engine/tensor.js';
import { dropout } from '../autograd/dropout.js';
import { Module } from './module.js';

export class Dropout extends Module {
  constructor(public p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training });
  }
}
