// The six models at the seed's own size, 224x224x3: one training step, `eval` and
// `predict` through the commands' code (in this process, so each pipeline compiles
// once), batch 2. Operands here are above the adapter's storage-binding limit (the
// DNN's 150528x256 first layer is 154 MB), so whatever kernel a layer chooses must split
// to fit; a smaller test size would not show it.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { train } from '../../src/commands/train.js';
import { evalCommand, predictCommand } from '../../src/commands/use.js';
import { MODELS } from '../../src/models/index.js';
import { useGpu } from '../gpu.js';

const hasGpu = await useGpu();
let root = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wgdl-224-'));
  // no validation set: training validates nothing, eval takes these two images
  for (const [cls, rgb] of [['cat', [200, 90, 60]], ['dog', [60, 100, 200]]] as const) {
    mkdirSync(join(root, 'data', cls), { recursive: true });
    await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg().toFile(join(root, 'data', cls, 'a.jpg'));
  }
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** console.log's lines while f runs. */
async function stdout(f: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
  try {
    await f();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

describe.skipIf(!hasGpu)('the six models at 224x224x3', () => {
  for (const model of Object.keys(MODELS)) {
    it(`${model}: one training step, eval and predict at batch 2`, async () => {
      const data = join(root, 'data'), out = join(root, model);
      const epochs = await stdout(() => train({
        model, data, out, epochs: 1, maxSteps: 1, batchSize: 2, imageSize: 224, lr: 1e-4, clip: 1, optimizer: 'adam', momentum: 0,
        weightDecay: 0, seed: 0, augment: false, shuffle: false, resume: false, json: true,
      }));
      const rec = JSON.parse(epochs[0]);
      expect(Number.isFinite(rec.train_loss)).toBe(true);

      const weights = join(out, `${model}.safetensors`);
      const ev = JSON.parse((await stdout(() => evalCommand({ weights, data, batchSize: 2, json: true })))[0]);
      expect(ev.count).toBe(2);
      expect(Number.isFinite(ev.loss)).toBe(true);

      const img = join(data, 'dog', 'a.jpg');
      const pr = JSON.parse((await stdout(() => predictCommand([img], { weights, top: 1, json: true })))[0]);
      expect(pr.probs.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
      expect(pr.logits.every(Number.isFinite)).toBe(true);
      rmSync(out, { recursive: true, force: true });
    });
  }
});
