// `models`: the seed's comparison table of the six models (parameters, trainable
// parameters, checkpoint size), counted on models built with shapes only (no device).

import { MODELS, freezeBackbone, type ImageConfig } from '../models/index.js';
import type { Module } from '../nn/module.js';
import { shapesOnly } from '../nn/init.js';

/** The seed's comparison table: parameters, trainable parameters, checkpoint size. */
export function modelsCommand(o: { imageSize?: number; json: boolean }): void {
  const rows = Object.values(MODELS).map((spec) => {
    const base = spec.defaults as ImageConfig;
    const config = { ...base, imageSize: o.imageSize ? (spec.fitImageSize?.(o.imageSize, base as never) ?? o.imageSize) : base.imageSize };
    const model = shapesOnly(() => (spec as { create(c: ImageConfig): Module }).create(config));
    try {
      if (spec.freezeBackbone) freezeBackbone(model, spec);
      let bytes = 0;
      for (const v of model.stateDict().values()) bytes += 'size' in v ? v.size * 4 : 8;
      return { model: spec.name, image_size: config.imageSize, parameters: model.numParameters(), trainable: model.numParameters(true), checkpoint_mb: bytes / 2 ** 20, description: spec.description };
    } finally {
      model.dispose();
    }
  });
  if (o.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  console.log(`${'model'.padEnd(9)} ${'size'.padStart(5)} ${'parameters'.padStart(12)} ${'trainable'.padStart(12)} ${'checkpoint'.padStart(11)}  description`);
  for (const r of rows) {
    console.log(`${r.model.padEnd(9)} ${String(r.image_size).padStart(5)} ${r.parameters.toLocaleString('en').padStart(12)} ${r.trainable.toLocaleString('en').padStart(12)} ${`${r.checkpoint_mb.toFixed(1)} MB`.padStart(11)}  ${r.description}`);
  }
}
