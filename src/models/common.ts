// What every model shares: the input it takes and how a registry entry describes it.

import type { Module } from '../nn/module.js';

export interface ImageConfig {
  imageSize: number;
  channels: number;
  numClasses: number;
}

export interface ModelSpec<C extends ImageConfig = ImageConfig> {
  name: string;
  description: string;
  defaults: C;
  create(config: C): Module;
  /** Normalisation the model expects (ImageNet's unless its pretrained weights say otherwise). */
  mean(config: C): number[];
  std(config: C): number[];
  /** The image size the model needs for a given one (e.g. a multiple of 32 or of the patch). */
  fitImageSize?(size: number, config: C): number;
  /** Recovers the configuration from a foreign state dict's shapes, where it is determined. */
  inferConfig?(shapes: ReadonlyMap<string, readonly number[]>, base: C): C;
  /** The classification head's parameters (trainable when the backbone is frozen; replaced for new classes). */
  head: string[];
  /** The weights' shapes fix the image size (a Linear on flattened features, position embeddings). */
  sizeFromWeights?: boolean;
  /** Fine-tuning trains only the head unless --no-freeze-backbone (resnet18, as the seed). */
  freezeBackbone?: boolean;
  /** Fully convolutional (global pooling before the head): takes any input height and width. */
  anyInputSize?: boolean;
}
