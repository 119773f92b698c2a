// The six models at the seed's own size, 224x224x3: one training step, `eval` and
// `predict` through the CLI, batch 2. Operands here are above the adapter's
// storage-binding limit (the DNN's 150528x256 first layer is 154 MB), so whatever kernel
// a layer chooses must split to fit; a smaller test size would not show it. The commands
// run as a user runs them, with lavapipe's optimised kernels (test/gpu.ts optimisedEnv):
// the seed's sizes take minutes without.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { MODELS } from '../../src/models/index.js';
import { gpuAvailable, optimisedEnv } from '../gpu.js';

const hasGpu = await gpuAvailable();
const CLI = join(process.cwd(), 'dist/cli.js');
let root = '';

/** The JSON line a command prints (exit status 0). */
function json(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', env: optimisedEnv() });
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n')[0]);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wgdl-224-'));
  // no validation set: training validates nothing, eval takes these two images
  for (const [cls, rgb] of [['cat', [200, 90, 60]], ['dog', [60, 100, 200]]] as const) {
    mkdirSync(join(root, 'data', cls), { recursive: true });
    await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg().toFile(join(root, 'data', cls, 'a.jpg'));
  }
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!hasGpu)('the six models at 224x224x3', () => {
  for (const model of Object.keys(MODELS)) {
    it(`${model}: one training step, eval and predict at batch 2`, () => {
      const data = join(root, 'data'), out = join(root, model);
      const rec = json(['train', '--model', model, '--data', data, '--out', out, '--epochs', '1', '--max-steps', '1', '--batch-size', '2',
        '--image-size', '224', '--lr', '1e-4', '--seed', '0', '--no-augment', '--no-shuffle']);
      expect(Number.isFinite(rec.train_loss)).toBe(true);

      const weights = join(out, `${model}.safetensors`);
      const ev = json(['eval', '--weights', weights, '--data', data, '--batch-size', '2']);
      expect(ev.count).toBe(2);
      expect(Number.isFinite(ev.loss)).toBe(true);

      const pr = json(['predict', '--weights', weights, '--top', '1', join(data, 'dog', 'a.jpg')]);
      expect((pr.probs as number[]).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect((pr.logits as number[]).every(Number.isFinite)).toBe(true);
      rmSync(out, { recursive: true, force: true });
    });
  }
});
