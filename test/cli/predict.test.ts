// `predict` on many inputs: one result or one error per input, folders walked, batches
// of --batch-size, and the .npy inputs it takes or refuses. In this process, on small
// checkpoints made here.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { predictCommand, type PredictOptions } from '../../src/commands/predict.js';
import { saveCheckpoint } from '../../src/io/checkpoint_file.js';
import { writeNpy } from '../../src/io/npy_file.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors_file.js';
import { MODELS, type ImageConfig } from '../../src/models/index.js';
import type { Module } from '../../src/nn/module.js';
import { Tensor } from '../../src/engine/tensor.js';
import { firstNonFinite } from '../../src/engine/shaders/finite.js';
import { evalCommand } from '../../src/commands/eval.js';
import { useGpu } from '../gpu.js';

const hasGpu = await useGpu();
let root = '';
let lenet = '', resnet = '';

async function checkpoint(name: 'lenet' | 'resnet18', config: ImageConfig & Record<string, unknown>, classes: string[], poison?: string): Promise<string> {
  const spec = MODELS[name] as unknown as { create(c: ImageConfig): Module; mean(c: ImageConfig): number[]; std(c: ImageConfig): number[] };
  const m = spec.create(config);
  if (poison) {
    const t = m.stateDict().get(poison) as Tensor;
    const v = await t.readF32();
    v[v.length - 1] = NaN;
    t.write(v);
  }
  const path = join(root, `${name}-${classes.length}${poison ? '-nan' : ''}.safetensors`);
  await saveCheckpoint(path, m, { model: name, config, classes, mean: spec.mean(config), std: spec.std(config) });
  m.dispose();
  return path;
}

/** The JSON lines predict prints, whether it succeeded, and its stderr lines. */
async function predict(inputs: string[], o: Partial<PredictOptions> & { weights: string }) {
  const out: string[] = [], err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  try {
    const ok = await predictCommand(inputs, { top: 1, json: true, ...o });
    return { ok, lines: out.map((l) => JSON.parse(l)), err: err.join('') };
  } finally {
    log.mockRestore();
    write.mockRestore();
    process.exitCode = 0;
  }
}

const image = (path: string, r: number) => sharp({ create: { width: 20, height: 16, channels: 3, background: { r, g: 90, b: 255 - r } } }).png().toFile(path);

beforeAll(async () => {
  if (!hasGpu) return;
  root = mkdtempSync(join(tmpdir(), 'wgdl-predict-'));
  mkdirSync(join(root, 'imgs', 'sub'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  await image(join(root, 'imgs', 'a.png'), 200);
  await image(join(root, 'imgs', 'c.png'), 40);
  await image(join(root, 'imgs', 'sub', 'd.png'), 120);
  writeFileSync(join(root, 'imgs', 'b.png'), 'not a png');
  writeFileSync(join(root, 'imgs', 'notes.txt'), 'ignored');
  symlinkSync('..', join(root, 'imgs', 'sub', 'up')); // a loop: walked once
  lenet = await checkpoint('lenet', { imageSize: 32, channels: 3, numClasses: 2 }, ['cat', 'dog']);
  resnet = await checkpoint('resnet18', { imageSize: 32, channels: 3, numClasses: 2, width: 4 }, ['cat', 'dog']);
});

afterAll(() => root && rmSync(root, { recursive: true, force: true }));

describe.skipIf(!hasGpu)('predict', () => {
  it('gives one result or one error per input, walking folders, in batches', async () => {
    const one = await predict([join(root, 'imgs', 'a.png')], { weights: lenet });
    const r = await predict([join(root, 'imgs'), join(root, 'missing.jpg'), join(root, 'empty'), join(root, 'imgs', 'a.png')], { weights: lenet, batchSize: 2 });
    expect(r.ok).toBe(false);
    expect(r.lines.map((l) => [l.input.slice(root.length + 1), l.error ? 'error' : l.pred])).toEqual([
      ['empty', 'error'],
      ['imgs/b.png', 'error'], // unreadable: the others of its batch still run
      ['imgs/a.png', expect.stringMatching(/cat|dog/)],
      ['imgs/c.png', expect.stringMatching(/cat|dog/)],
      ['imgs/sub/d.png', expect.stringMatching(/cat|dog/)],
      ['missing.jpg', 'error'],
      ['imgs/a.png', expect.stringMatching(/cat|dog/)],
    ]);
    expect(r.lines[0].error).toMatch(/a folder without images/);
    expect(r.lines[5].error).toMatch(/missing\.jpg|no such file|not found/i);
    // the same image gives the same logits alone and in a batch
    expect(r.lines[2].logits[0]).toBeCloseTo(one.lines[0].logits[0], 4);
    expect(r.lines[6].logits[1]).toBeCloseTo(one.lines[0].logits[1], 4);
    expect(r.err).toMatch(/predict: 3 inputs failed/);
    expect(one.ok).toBe(true);
  });

  it('takes float .npy batches (converting float64), refuses integer and empty ones', async () => {
    const n = 3, x = new Float32Array(n * 3 * 32 * 32).map((_, i) => Math.sin(i));
    writeNpy(join(root, 'f32.npy'), { dtype: 'F32', shape: [n, 3, 32, 32], data: x });
    writeNpy(join(root, 'f64.npy'), { dtype: 'F64', shape: [n, 3, 32, 32], data: Float64Array.from(x) });
    writeNpy(join(root, 'u8.npy'), { dtype: 'U8', shape: [1, 3, 32, 32], data: new Uint8Array(3 * 32 * 32) });
    writeNpy(join(root, 'empty.npy'), { dtype: 'F32', shape: [0, 3, 32, 32], data: new Float32Array(0) });
    const r = await predict(['f32.npy', 'f64.npy', 'u8.npy', 'empty.npy'].map((f) => join(root, f)), { weights: lenet, batchSize: 2 });
    const got = r.lines.map((l) => l.error ?? l.logits);
    expect(got).toHaveLength(8);
    for (let i = 0; i < n; i++) expect(got[n + i]).toEqual(got[i]);
    expect(r.lines[6].error).toMatch(/holds U8 values; predict takes normalised float32/);
    expect(r.lines[7].error).toMatch(/holds no items/);
  });

  it('runs ResNet18 on any input size from .npy, as PyTorch does; fixed-size models say what they take', async () => {
    writeNpy(join(root, 'r64.npy'), { dtype: 'F32', shape: [2, 3, 64, 48], data: new Float32Array(2 * 3 * 64 * 48).map((_, i) => Math.cos(i)) });
    const r = await predict([join(root, 'r64.npy')], { weights: resnet });
    expect(r.ok, r.err).toBe(true);
    expect(r.lines).toHaveLength(2);
    for (const l of r.lines) expect(l.probs[0] + l.probs[1]).toBeCloseTo(1, 5);
    const l = await predict([join(root, 'r64.npy')], { weights: lenet });
    expect(l.lines[0].error).toMatch(/holds \[2,3,64,48\], the model takes \(N, 3, 32, 32\)/);
  });

  it('refuses a checkpoint whose class names do not match its outputs', async () => {
    const bad = await checkpoint('lenet', { imageSize: 32, channels: 3, numClasses: 2 }, ['cat', 'dog', 'bird']);
    await expect(predictCommand([join(root, 'imgs', 'a.png')], { weights: bad, top: 1, json: true })).rejects.toThrow(/3 class names in its metadata for 2 outputs/);
  });

  it('stops on NaN in the weights, naming the tensor, and on NaN in an input, naming the item', async () => {
    const bad = await checkpoint('lenet', { imageSize: 32, channels: 3, numClasses: 2 }, ['cat', 'dog'], 'fc2.weight');
    await expect(predictCommand([join(root, 'imgs', 'a.png')], { weights: bad, top: 1, json: true })).rejects.toThrow(/lenet-2-nan\.safetensors: fc2\.weight holds NaN or infinite values/);
    for (const c of ['cat', 'dog']) mkdirSync(join(root, 'classes', c), { recursive: true });
    await image(join(root, 'classes', 'cat', 'a.png'), 200);
    await image(join(root, 'classes', 'dog', 'a.png'), 40);
    await expect(evalCommand({ weights: bad, data: join(root, 'classes'), batchSize: 2, json: true })).rejects.toThrow(/fc2\.weight holds NaN/);
    const x = new Float32Array(3 * 3 * 32 * 32);
    x[3 * 32 * 32 + 5] = NaN;
    writeNpy(join(root, 'nan.npy'), { dtype: 'F32', shape: [3, 3, 32, 32], data: x });
    const r = await predict([join(root, 'nan.npy'), join(root, 'imgs', 'a.png')], { weights: lenet });
    expect(r.lines.map((l) => l.error ?? l.pred)).toEqual(['item 1 holds NaN or infinite values', expect.stringMatching(/cat|dog/)]);
  });

  it('finds the first tensor with a NaN or an infinity in one pass', async () => {
    const make = (n: number, at: number, v: number) => {
      const a = new Float32Array(n).map((_, i) => i - n / 2);
      if (at >= 0) a[at] = v;
      return Tensor.from(a);
    };
    const ts = [make(10, -1, 0), make(5000, -1, 0), make(70000, 69999, Infinity), make(3, 0, -Infinity), make(9, 4, NaN), Tensor.from(Int32Array.of(-1, -1))];
    expect(await firstNonFinite(ts)).toBe(2);
    expect(await firstNonFinite(ts.slice(3))).toBe(0);
    expect(await firstNonFinite(ts.slice(4))).toBe(0);
    expect(await firstNonFinite([ts[0], ts[1], ts[5]])).toBe(-1); // i32 bits of -1 are not a float
    expect(await firstNonFinite([make(3, 1, 3.4e38)])).toBe(-1);
    for (const t of ts) t.dispose();
  });

  it('refuses an image size from a checkpoint that cannot fit, before allocating', async () => {
    const f = readSafetensors(resnet);
    const config = { ...JSON.parse(f.metadata.config), imageSize: 100000 };
    writeSafetensors(join(root, 'huge.safetensors'), Object.fromEntries(f.tensors), { ...f.metadata, config: JSON.stringify(config) });
    await expect(predictCommand([join(root, 'imgs', 'a.png')], { weights: join(root, 'huge.safetensors'), top: 1, json: true })).rejects.toThrow(/resnet18 at 100000x100000x3, 32 rows at once: .*GB.*: lower (--batch-size \(about \d+ fits\) or )?--image-size/);
  });
});
