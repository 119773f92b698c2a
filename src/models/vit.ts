// ViT-B/16 in Hugging Face's ViTForImageClassification layout (module names as HF, so
// google/vit-base-patch16-224 loads by key): pre-LN encoder blocks, exact GELU, the
// classifier on the CLS token after the final LayerNorm.

import { Tensor } from '../engine/tensor.js';
import { add, concat, expand, gelu, permute, reshape, slice } from '../autograd/ops.js';
import { attentionHeads } from '../autograd/attention.js';
import { ModuleList } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { constant, truncNormal, type LayerInit } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/normalization.js';
import type { ImageConfig } from './common.js';

export interface VitConfig extends ImageConfig {
  patchSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  layerNormEps: number;
}

/** NOTE: HF ViT init: Linear/Conv weights trunc-normal(0.02), biases 0; cls token and position embeddings 0. */
const HF_INIT: LayerInit = { weight: (s) => truncNormal(s, 0.02), bias: (s) => constant(s, 0) };

const hfLinear = (inF: number, outF: number) => new Linear(inF, outF, { init: HF_INIT });

class PatchEmbeddings extends Module {
  readonly projection: Conv2d;
  constructor(c: VitConfig) {
    super();
    this.projection = this.registerModule('projection', new Conv2d(c.channels, c.hidden, c.patchSize, { stride: c.patchSize, init: HF_INIT }));
  }
  forward(x: Tensor): Tensor {
    const y = this.projection.forward(x); // (B, D, S/P, S/P)
    const [B, D] = y.shape;
    return permute(reshape(y, [B, D, -1]), [0, 2, 1]); // (B, P2, D)
  }
}

class Embeddings extends Module {
  readonly clsToken: Tensor;
  readonly positionEmbeddings: Tensor;
  readonly patchEmbeddings: PatchEmbeddings;
  constructor(c: VitConfig) {
    super();
    const patches = (c.imageSize / c.patchSize) ** 2;
    this.clsToken = this.registerParameter('cls_token', constant([1, 1, c.hidden], 0));
    this.positionEmbeddings = this.registerParameter('position_embeddings', constant([1, patches + 1, c.hidden], 0));
    this.patchEmbeddings = this.registerModule('patch_embeddings', new PatchEmbeddings(c));
  }
  forward(x: Tensor): Tensor {
    const p = this.patchEmbeddings.forward(x);
    const [B, , D] = p.shape;
    const cls = expand(this.clsToken, [B, 1, D]); // (B, 1, D)
    return add(concat([cls, p], 1), this.positionEmbeddings);
  }
}

class SelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  constructor(readonly c: VitConfig) {
    super();
    this.query = this.registerModule('query', hfLinear(c.hidden, c.hidden));
    this.key = this.registerModule('key', hfLinear(c.hidden, c.hidden));
    this.value = this.registerModule('value', hfLinear(c.hidden, c.hidden));
  }
  forward(x: Tensor): Tensor {
    return attentionHeads(this.query.forward(x), this.key.forward(x), this.value.forward(x), this.c.heads);
  }
}

/** A module holding one Linear named `dense` (HF's ViTSelfOutput, ViTIntermediate, ViTOutput). */
class Dense extends Module {
  readonly dense: Linear;
  constructor(inF: number, outF: number, readonly act: 'gelu' | null = null) {
    super();
    this.dense = this.registerModule('dense', hfLinear(inF, outF));
  }
  forward(x: Tensor): Tensor {
    const y = this.dense.forward(x);
    return this.act ? gelu(y) : y;
  }
}

class Attention extends Module {
  readonly attention: SelfAttention;
  readonly output: Dense;
  constructor(c: VitConfig) {
    super();
    this.attention = this.registerModule('attention', new SelfAttention(c));
    this.output = this.registerModule('output', new Dense(c.hidden, c.hidden));
  }
  forward(x: Tensor): Tensor {
    return this.output.forward(this.attention.forward(x));
  }
}

class Layer extends Module {
  readonly attention: Attention;
  readonly intermediate: Dense;
  readonly output: Dense;
  readonly layernormBefore: LayerNorm;
  readonly layernormAfter: LayerNorm;
  constructor(c: VitConfig) {
    super();
    this.attention = this.registerModule('attention', new Attention(c));
    this.intermediate = this.registerModule('intermediate', new Dense(c.hidden, c.intermediate, 'gelu'));
    this.output = this.registerModule('output', new Dense(c.intermediate, c.hidden));
    this.layernormBefore = this.registerModule('layernorm_before', new LayerNorm(c.hidden, c.layerNormEps));
    this.layernormAfter = this.registerModule('layernorm_after', new LayerNorm(c.hidden, c.layerNormEps));
  }
  forward(x: Tensor): Tensor {
    const h = add(x, this.attention.forward(this.layernormBefore.forward(x)));
    return add(h, this.output.forward(this.intermediate.forward(this.layernormAfter.forward(h))));
  }
}

class Encoder extends Module {
  readonly layer: ModuleList<Layer>;
  constructor(c: VitConfig) {
    super();
    this.layer = this.registerModule('layer', new ModuleList(Array.from({ length: c.layers }, () => new Layer(c))));
  }
  forward(x: Tensor): Tensor {
    for (const l of this.layer.items) x = l.forward(x);
    return x;
  }
}

class VitModel extends Module {
  readonly embeddings: Embeddings;
  readonly encoder: Encoder;
  readonly layernorm: LayerNorm;
  constructor(c: VitConfig) {
    super();
    this.embeddings = this.registerModule('embeddings', new Embeddings(c));
    this.encoder = this.registerModule('encoder', new Encoder(c));
    this.layernorm = this.registerModule('layernorm', new LayerNorm(c.hidden, c.layerNormEps));
  }
  forward(x: Tensor): Tensor {
    return this.layernorm.forward(this.encoder.forward(this.embeddings.forward(x)));
  }
}

export class ViT extends Module {
  readonly vit: VitModel;
  classifier: Linear;

  constructor(readonly config: VitConfig) {
    super();
    const { imageSize: S, patchSize: P, hidden, heads, numClasses } = config;
    if (S % P !== 0) throw new Error(`vit needs an image size divisible by the patch size ${P}, got ${S}`);
    if (hidden % heads !== 0) throw new Error(`vit: hidden size ${hidden} is not divisible by ${heads} heads`);
    this.vit = this.registerModule('vit', new VitModel(config));
    this.classifier = this.registerModule('classifier', hfLinear(hidden, numClasses));
  }

  forward(x: Tensor): Tensor {
    const h = this.vit.forward(x); // (B, T, D)
    const [B, , D] = h.shape;
    return this.classifier.forward(reshape(slice(h, [0, 0, 0], [B, 1, D]), [B, D]));
  }
}
