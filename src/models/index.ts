// The six models of the seed, by their CLI names, with the seed's defaults
// (224x224x3 images, 2 classes).

import type { Module } from '../nn/module.js';
import { BiRNN, type BiRnnConfig } from './birnn.js';
import type { ImageConfig, ModelSpec } from './common.js';
import { defaultNormalization } from '../data/pixels.js';
import { DNN, type DnnConfig } from './dnn.js';
import { LeNet, lenetFeatureSize } from './lenet.js';
import { ResNet18, type ResNet18Config } from './resnet18.js';
import { VGG16, type Vgg16Config } from './vgg16.js';
import { ViT, type VitConfig } from './vit.js';

export type { ModelSpec, ImageConfig } from './common.js';

const BASE: ImageConfig = { imageSize: 224, channels: 3, numClasses: 2 };
type Shapes = ReadonlyMap<string, readonly number[]>;

function need(shapes: Shapes, key: string): readonly number[] {
  const s = shapes.get(key);
  if (!s) throw new Error(`missing "${key}"`);
  return s;
}

const imagenet = {
  mean: (c: ImageConfig) => defaultNormalization(c.channels).mean,
  std: (c: ImageConfig) => defaultNormalization(c.channels).std,
};

const dnn: ModelSpec<DnnConfig> = {
  name: 'dnn',
  description: 'MLP: flatten -> 256 -> 128 -> classes, ReLU and dropout 0.5',
  defaults: { ...BASE, hidden: [256, 128], dropout: 0.5 },
  create: (c) => new DNN(c),
  ...imagenet,
  head: ['layer3.weight', 'layer3.bias'],
  sizeFromWeights: true,
  inferConfig: (s, base) => {
    const [h1, inF] = need(s, 'layer1.weight');
    const S = Math.round(Math.sqrt(inF / base.channels));
    if (S * S * base.channels !== inF) throw new Error(`layer1 takes ${inF} inputs: not ${base.channels} square channels`);
    return { ...base, imageSize: S, hidden: [h1, need(s, 'layer2.weight')[0]], numClasses: need(s, 'layer3.weight')[0] };
  },
};

const lenet: ModelSpec = {
  name: 'lenet',
  description: 'LeNet: conv 5x5 (6), pool, conv 5x5 (16), pool, 120, 84, classes',
  defaults: { ...BASE },
  create: (c) => new LeNet(c),
  ...imagenet,
  head: ['fc3.weight', 'fc3.bias'],
  sizeFromWeights: true,
  inferConfig: (s, base) => {
    const side = Math.round(Math.sqrt(need(s, 'fc1.weight')[1] / 16));
    const imageSize = lenetFeatureSize(base.imageSize) === side ? base.imageSize : 4 * side + 12;
    return { ...base, imageSize, channels: need(s, 'conv1.weight')[1], numClasses: need(s, 'fc3.weight')[0] };
  },
};

const vgg16: ModelSpec<Vgg16Config> = {
  name: 'vgg16',
  description: 'VGG16: 13 3x3 convs in 5 blocks, classifier 512 -> 128 -> classes',
  defaults: { ...BASE, width: 64, hidden: [512, 128], dropout: 0.5 },
  create: (c) => new VGG16(c),
  ...imagenet,
  head: ['classifier.6.weight', 'classifier.6.bias'],
  sizeFromWeights: true,
  fitImageSize: (size) => Math.max(32, Math.round(size / 32) * 32),
  inferConfig: (s, base) => {
    const [w, channels] = need(s, 'features.0.weight');
    const [a, flat] = need(s, 'classifier.0.weight');
    const side = Math.round(Math.sqrt(flat / (8 * w)));
    return { ...base, channels, width: w, imageSize: 32 * side, hidden: [a, need(s, 'classifier.3.weight')[0]], numClasses: need(s, 'classifier.6.weight')[0] };
  },
};

const resnet18: ModelSpec<ResNet18Config> = {
  name: 'resnet18',
  description: "torchvision's ResNet18, fc -> classes; backbone frozen by default",
  defaults: { ...BASE, width: 64 },
  create: (c) => new ResNet18(c),
  ...imagenet,
  head: ['fc.weight', 'fc.bias'],
  freezeBackbone: true,
  anyInputSize: true,
  inferConfig: (s, base) => {
    const [w, channels] = need(s, 'conv1.weight');
    return { ...base, width: w, channels, numClasses: need(s, 'fc.weight')[0] };
  },
};

const birnn: ModelSpec<BiRnnConfig> = {
  name: 'birnn',
  description: 'Bidirectional LSTM over image rows: 4 layers, hidden 256',
  defaults: { ...BASE, hidden: 256, layers: 4, dropout: 0.5 },
  create: (c) => new BiRNN(c),
  ...imagenet,
  head: ['fc.weight', 'fc.bias'],
  inferConfig: (s, base) => {
    const hidden = need(s, 'lstm.weight_hh_l0')[1];
    let layers = 0;
    while (s.has(`lstm.weight_ih_l${layers}`)) layers++;
    const inF = need(s, 'lstm.weight_ih_l0')[1];
    if (inF % base.channels !== 0) throw new Error(`lstm input ${inF} is not a multiple of ${base.channels} channels`);
    return { ...base, hidden, layers, imageSize: inF / base.channels, numClasses: need(s, 'fc.weight')[0] };
  },
};

const vit: ModelSpec<VitConfig> = {
  name: 'vit',
  description: 'ViT-B/16 (Hugging Face layout): 12 layers, hidden 768, 12 heads',
  defaults: { ...BASE, patchSize: 16, hidden: 768, layers: 12, heads: 12, intermediate: 3072, layerNormEps: 1e-12 },
  create: (c) => new ViT(c),
  head: ['classifier.weight', 'classifier.bias'],
  sizeFromWeights: true,
  // NOTE: google/vit-base-patch16-224's preprocessor normalises with mean 0.5, std 0.5.
  mean: (c) => new Array(c.channels).fill(0.5),
  std: (c) => new Array(c.channels).fill(0.5),
  fitImageSize: (size, c) => Math.max(c.patchSize, Math.round(size / c.patchSize) * c.patchSize),
  inferConfig: (s, base) => {
    const [hidden, channels, patchSize] = need(s, 'vit.embeddings.patch_embeddings.projection.weight');
    const positions = need(s, 'vit.embeddings.position_embeddings')[1];
    let layers = 0;
    while (s.has(`vit.encoder.layer.${layers}.attention.attention.query.weight`)) layers++;
    return {
      ...base, hidden, channels, patchSize, layers,
      imageSize: patchSize * Math.round(Math.sqrt(positions - 1)),
      intermediate: need(s, 'vit.encoder.layer.0.intermediate.dense.weight')[0],
      numClasses: need(s, 'classifier.weight')[0],
    };
  },
};

export const MODELS = { dnn, lenet, vgg16, resnet18, birnn, vit } as const;

/** Only the classification head stays trainable (fine-tuning a pretrained backbone). */
export function freezeBackbone(model: Module, spec: ModelSpec): void {
  model.requiresGrad_(false);
  for (const [k, p] of model.namedParameters()) if (spec.head.includes(k)) p.requiresGrad = true;
}

export function modelSpec(name: string): ModelSpec {
  const spec = (MODELS as Record<string, ModelSpec>)[name];
  if (!spec) throw new Error(`unknown model "${name}" (choose one of: ${Object.keys(MODELS).join(', ')})`);
  return spec;
}

/** A fresh model by name, with the seed's defaults overridden by `config` (e.g. `{ imageSize: 28, channels: 1, numClasses: 10 }`). */
export function createModel(name: string, config: Partial<ImageConfig> & Record<string, unknown> = {}): Module {
  const spec = modelSpec(name);
  return spec.create({ ...spec.defaults, ...config } as ImageConfig);
}

export { DNN, type DnnConfig } from './dnn.js';
export { LeNet } from './lenet.js';
export { VGG16, type Vgg16Config } from './vgg16.js';
export { ResNet18, type ResNet18Config } from './resnet18.js';
export { BiRNN, type BiRnnConfig } from './birnn.js';
export { ViT, type VitConfig } from './vit.js';
export { IMAGENET_MEAN, IMAGENET_STD } from '../data/pixels.js';
export { trainStep, type HostBatch } from './step.js';
export { describeWeights, buildFrom, loadModel, weightsSource, type LoadedWeights } from './load.js';
export { OPTIM_PREFIX } from '../io/optimizer_state.js';
