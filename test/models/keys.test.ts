// At the seed's defaults every model has PyTorch's state-dict keys and shapes, in order
// (test/fixtures/models/default_keys.json, written from the PyTorch definitions), and the
// seed's parameter counts.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Tensor } from '../../src/engine/tensor.js';
import { MODELS, freezeBackbone, type ImageConfig } from '../../src/models/index.js';
import type { Module } from '../../src/nn/module.js';
import { useGpu } from '../gpu.js';

const hasGpu = await useGpu();
const KEYS = JSON.parse(readFileSync('test/fixtures/models/default_keys.json', 'utf8')) as Record<string, [string, number[]][]>;
const SEED: Record<string, [number, number]> = {
  vgg16: [27_626_178, 27_626_178], lenet: [5_406_606, 5_406_606], resnet18: [11_177_538, 1_026],
  birnn: [6_636_546, 6_636_546], dnn: [38_568_578, 38_568_578], vit: [85_800_194, 85_800_194],
};

describe.skipIf(!hasGpu)('state-dict keys and parameter counts at the seed\'s defaults', () => {
  for (const [name, spec] of Object.entries(MODELS)) {
    it(name, () => {
      const m = (spec as { create(c: ImageConfig): Module }).create(spec.defaults);
      try {
        const got = [...m.stateDict()].map(([k, v]) => [k, v instanceof Tensor ? [...v.shape] : []]);
        expect(got).toEqual(KEYS[name]);
        if (spec.freezeBackbone) freezeBackbone(m, spec);
        expect([m.numParameters(), m.numParameters(true)]).toEqual(SEED[name]);
      } finally {
        m.dispose();
      }
    });
  }
});
