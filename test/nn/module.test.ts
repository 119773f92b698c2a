// Module bookkeeping: registration order, strict loading with one message listing every
// problem, train/eval, freezing, and checkpoints that rebuild the model on their own.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../src/engine/tensor.js';
import { HostInt, type Module } from '../../src/nn/module.js';
import { LeNet } from '../../src/models/lenet.js';
import { openCheckpoint, saveCheckpoint, stateSource } from '../../src/io/checkpoint_file.js';
import { openWeights } from '../../src/commands/weights.js';
import { writeSafetensors, type TensorData } from '../../src/io/safetensors_file.js';
import { MODELS } from '../../src/models/index.js';
import { Sequential } from '../../src/nn/container.js';
import { Linear } from '../../src/nn/linear.js';
import { ReLU } from '../../src/nn/activation.js';
import { useGpu } from '../gpu.js';

const hasGpu = await useGpu();
const config = { imageSize: 16, channels: 3, numClasses: 3 };

async function dictOf(m: Module): Promise<Map<string, TensorData>> {
  const d = new Map<string, TensorData>();
  for (const [k, v] of m.stateDict()) if (v instanceof Tensor) d.set(k, { dtype: 'F32', shape: [...v.shape], data: await v.readF32() });
  return d;
}

describe.skipIf(!hasGpu)('Module', () => {
  it('a strict load lists every missing key, unexpected key and shape mismatch at once, and writes nothing', async () => {
    const a = new LeNet(config), b = new LeNet(config);
    const d = await dictOf(a);
    d.delete('fc3.bias');
    d.set('extra.weight', { dtype: 'F32', shape: [1], data: Float32Array.of(1) });
    d.set('conv1.weight', { dtype: 'F32', shape: [6, 3, 3, 3], data: new Float32Array(162) });
    const before = await b.fc1.weight.read();
    expect(() => b.loadStateDict(d, { source: 'x.safetensors' })).toThrow(
      /^x\.safetensors: cannot load into LeNet: shape mismatch: conv1\.weight \(checkpoint \[6,3,3,3\], model \[6,3,5,5\]\); missing keys: fc3\.bias; unexpected keys: extra\.weight$/,
    );
    expect(await b.fc1.weight.read()).toEqual(before);
    a.dispose();
    b.dispose();
  });

  it('loads by name, sets train/eval on the whole tree, and freezes subtrees', async () => {
    const a = new LeNet(config), b = new LeNet(config);
    b.loadStateDict(await dictOf(a));
    expect(await b.fc2.weight.read()).toEqual(await a.fc2.weight.read());
    b.eval();
    expect(b.namedModules().every(([, m]) => !m.training)).toBe(true);
    b.conv1.requiresGrad_(false);
    expect(b.numParameters(true)).toBe(b.numParameters() - 6 * 3 * 25 - 6);
    a.dispose();
    b.dispose();
  });

  it('Sequential.fuseReLU runs Linear + ReLU as one kernel: the same output and the same keys', async () => {
    const plain = new Sequential(new Linear(5, 4), new ReLU(), new Linear(4, 3), new ReLU());
    const fused = new Sequential(new Linear(5, 4), new ReLU(), new Linear(4, 3), new ReLU()).fuseReLU();
    fused.loadStateDict(await dictOf(plain));
    expect([...fused.stateDict().keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const x = Tensor.from(Float32Array.from({ length: 10 }, (_, i) => Math.sin(i) * 3), [2, 5]);
    const ya = plain.forward(x), yb = fused.forward(x);
    const [a, b] = [await ya.read(), await yb.read()];
    expect(a.some((v) => v > 0) && a.some((v) => v === 0)).toBe(true); // the ReLU cut something
    expect(Math.max(...b.map((v, i) => Math.abs(v - a[i])))).toBe(0);
    for (const t of [x, ya, yb, plain, fused]) t.dispose();
  });

  it('a checkpoint holds the model, config, classes and normalisation, and is enough to rebuild it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgdl-ck-'));
    const m = new LeNet(config);
    const path = join(dir, 'lenet.safetensors');
    await saveCheckpoint(path, m, { model: 'lenet', config, classes: ['a', 'b', 'c'], mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2], training: { epoch: 3 } });
    expect(readdirSync(dir)).toEqual(['lenet.safetensors']); // no temporary file left
    const { file, meta } = openCheckpoint(path);
    expect(meta).toMatchObject({ model: 'lenet', config, classes: ['a', 'b', 'c'], training: { epoch: 3 } });
    const w = openWeights(path);
    const r = w.spec.create(w.config);
    r.loadStateDict(stateSource(file));
    expect(await (r as LeNet).fc3.bias!.read()).toEqual(await m.fc3.bias!.read());
    m.dispose();
    r.dispose();
  });

  it('infers the configuration of foreign state dicts from their shapes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgdl-fw-'));
    for (const [name, cfg] of [['lenet', { imageSize: 32, channels: 3, numClasses: 5 }], ['birnn', { imageSize: 8, channels: 3, numClasses: 4, hidden: 6, layers: 3, dropout: 0.5 }], ['vgg16', { imageSize: 64, channels: 3, numClasses: 7, width: 2, hidden: [8, 4], dropout: 0.5 }]] as const) {
      const spec = MODELS[name];
      const m = (spec as { create(c: object): LeNet }).create(cfg);
      const t: Record<string, { dtype: 'F32' | 'I64'; shape: number[]; data: Float32Array | BigInt64Array }> = {};
      for (const [k, v] of m.stateDict()) t[k] = v instanceof HostInt ? { dtype: 'I64', shape: [], data: BigInt64Array.of(0n) } : { dtype: 'F32', shape: [...v.shape], data: await v.readF32() };
      const path = join(dir, `${name}.safetensors`);
      writeSafetensors(path, t);
      expect(() => openWeights(path)).toThrow(/no model metadata .*--model/);
      const w = openWeights(path, name);
      expect(w.config).toMatchObject(cfg);
      m.dispose();
    }
  });
});
