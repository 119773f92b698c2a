// Each model (with each kernel set) against committed PyTorch fixtures
// (scripts/make_model_fixtures.py): see fixture_check.ts (the browser suites run the same
// check in Chromium).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { MODELS } from '../../src/models/index.js';
import { setKernelSet, type KernelSet } from '../../src/engine/kernels.js';
import { useGpu } from '../gpu.js';
import { checkModelFixture } from './fixture_check.js';

const hasGpu = await useGpu();
const NAMES = Object.keys(MODELS) as (keyof typeof MODELS)[];

// Both kernel sets on this adapter: the GPU set (no subgroup broadcast, GPU tiles) has no GPU here to run on otherwise.
for (const set of ['cpu', 'gpu'] as KernelSet[]) describe.skipIf(!hasGpu)(`models against PyTorch fixtures, ${set} kernels`, { timeout: 900_000 }, () => {
  beforeAll(() => setKernelSet(set));
  afterAll(() => setKernelSet(null));
  for (const name of NAMES) {
    it(`${name}: eval logits, gradients, three Adam steps`, async () => {
      await checkModelFixture(name, readFileSync(`test/fixtures/models/${name}.safetensors`));
    });
  }
});
