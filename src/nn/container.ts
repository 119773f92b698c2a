// Containers: Sequential (run in order, optionally with ReLUs fused into the layer before
// them) and ModuleList (held, called by the owner), children named "0", "1", ...

import type { Tensor } from '../engine/tensor.js';
import { ReLU } from './activation.js';
import { Conv2d } from './conv.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** The layers that can apply the ReLU after them in their own kernel. */
const takesReLU = (m: Module | undefined): m is Conv2d | Linear => m instanceof Conv2d || m instanceof Linear;

/** Children named "0", "1", ... in order, parameterless layers counted, as nn.Sequential. */
export class Sequential extends Module {
  private fused = false;

  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  get layers(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /**
   * From now on each Conv2d or Linear followed by a ReLU runs as one kernel with the
   * activation fused (same result; the ReLU keeps its place, so the keys do not change).
   */
  fuseReLU(): this {
    this.fused = true;
    return this;
  }

  forward(x: Tensor): Tensor {
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i];
      if (this.fused && takesReLU(m) && layers[i + 1] instanceof ReLU) {
        x = m.forward(x, { relu: true });
        i++;
      } else x = m.forward(x);
    }
    return x;
  }
}

/** Children named "0", "1", ...; the owner calls them (nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  constructor(readonly items: M[]) {
    super();
    items.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(): Tensor {
    throw new Error('ModuleList has no forward');
  }
}
