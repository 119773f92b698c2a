// The built CLI end to end, on small generated data: prepare, train, eval, predict,
// models, the tensor-file and Fashion-MNIST paths, and the failure modes.
import { describe, expect, it, beforeAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors_file.js';
import { gpuAvailable } from '../gpu.js';
import { classImage } from '../data/fixtures.js';

const hasGpu = await gpuAvailable();
const CLI = join(process.cwd(), 'dist/cli.js');

function cli(args: string[], cwd = process.cwd()) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 900_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('Warning: max')).join('\n') };
}

/** A noisy image whose colour says its class: reddish cats, bluish dogs. */
const image = (path: string, cls: 'cat' | 'dog', seed: number) => classImage(path, cls === 'cat', seed);

let root = '';
let data = '';

beforeAll(async () => {
  expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  root = mkdtempSync(join(tmpdir(), 'wgdl-cli-'));
  data = join(root, 'data');
  for (const [split, n] of [['train', 24], ['val', 8]] as const) {
    mkdirSync(join(data, split), { recursive: true });
    for (let i = 0; i < n; i++) for (const cls of ['cat', 'dog'] as const) await image(join(data, split, `${cls}.${i}.jpg`), cls, i + (split === 'val' ? 1000 : 0) + (cls === 'dog' ? 500 : 0));
  }
});

// Each CLI run is a new process: on a machine whose shader cache is cold, it compiles its pipelines again.
describe.skipIf(!hasGpu)('cli', () => {
  it('prepare sorts the Kaggle layout into class folders, and is safe to run twice', () => {
    const r = cli(['prepare', data]);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(data, 'train')).sort()).toContain('cat');
    expect(readdirSync(join(data, 'train', 'dog')).length).toBe(24);
    expect(cli(['prepare', data]).status).toBe(0);
  });

  it('train reaches high validation accuracy, then eval and predict agree', () => {
    const out = join(root, 'ck');
    const r = cli(['train', '--model', 'lenet', '--data', data, '--image-size', '32', '--epochs', '4', '--batch-size', '8', '--lr', '0.003', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const epochs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(epochs).toHaveLength(4);
    const last = epochs.at(-1);
    expect(Math.max(...epochs.map((e) => e.val_acc))).toBeGreaterThanOrEqual(0.9);
    expect(Object.keys(last.precision)).toEqual(['cat', 'dog']);
    expect(existsSync(join(out, 'lenet.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'lenet.last.safetensors'))).toBe(true);

    const e = cli(['eval', '--weights', join(out, 'lenet.safetensors'), '--data', data, '--json']);
    expect(e.status, e.stderr).toBe(0);
    const ev = JSON.parse(e.stdout);
    expect(ev.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(ev.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(16);

    const img = join(data, 'val', 'dog', readdirSync(join(data, 'val', 'dog'))[0]);
    const p = cli(['predict', '--weights', join(out, 'lenet.safetensors'), '--json', img]);
    expect(p.status, p.stderr).toBe(0);
    const pr = JSON.parse(p.stdout);
    expect(pr.pred).toBe('dog');
    expect(pr.probs.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);

    const resumed = cli(['train', '--model', 'lenet', '--data', data, '--image-size', '32', '--epochs', '5', '--batch-size', '8', '--out', out, '--resume', '--json']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim().split('\n').map((l) => JSON.parse(l).epoch)).toEqual([5]);
  });

  it('trains on a tensor file', () => {
    const n = 32, x = new Float32Array(n * 3 * 6 * 6), y = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = BigInt(i % 2);
      for (let j = 0; j < 108; j++) x[i * 108 + j] = (i % 2 ? 1 : -1) + 0.3 * Math.sin(i * 31 + j);
    }
    const file = join(root, 'tensors.safetensors');
    writeSafetensors(file, { x: { dtype: 'F32', shape: [n, 3, 6, 6], data: x }, y: { dtype: 'I64', shape: [n], data: y } });
    const r = cli(['train', '--model', 'dnn', '--data', file, '--epochs', '3', '--batch-size', '8', '--out', join(root, 'ck-t'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).train_acc).toBeGreaterThanOrEqual(0.9);
  });

  it.skipIf(!existsSync('/usr/share/datasets/fashion-mnist'))('reads Fashion-MNIST', () => {
    const r = cli(['train', '--model', 'lenet', '--data', 'fashion-mnist', '--epochs', '1', '--max-steps', '2', '--batch-size', '16', '--out', join(root, 'ck-f'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Fashion-MNIST .*60000 training, 10000 test/);
    const rec = JSON.parse(r.stdout);
    expect(Object.keys(rec.recall)).toContain('Ankle boot');
  });

  it('models prints the seed\'s parameter counts', () => {
    const r = cli(['models', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rows = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((m) => [m.model, m]));
    expect(rows.vgg16.trainable).toBe(27_626_178);
    expect(rows.lenet.trainable).toBe(5_406_606);
    expect(rows.resnet18.trainable).toBe(1_026);
    expect(rows.resnet18.parameters).toBe(11_177_538);
    expect(rows.birnn.trainable).toBe(6_636_546);
    expect(rows.dnn.trainable).toBe(38_568_578);
    expect(rows.vit.trainable).toBe(85_800_194);
  });

  it('fails clearly on bad input', () => {
    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'cat'), { recursive: true });
    mkdirSync(join(empty, 'dog'), { recursive: true });
    writeFileSync(join(empty, 'cat', 'notes.txt'), 'not an image');
    const cases: [string[], RegExp][] = [
      [['train', '--model', 'lenet', '--data', join(root, 'nope')], /data not found: .*nope/],
      [['train', '--model', 'lenet', '--data', empty], /empty.*(no images|empty)/i],
      [['train', '--model', 'nonet', '--data', data], /unknown model "nonet"/],
      [['eval', '--weights', join(root, 'missing.safetensors')], /weights not found/],
      [['train', '--model', 'lenet', '--data', data, '--batch-size', 'x'], /expected an integer/],
    ];
    for (const [args, msg] of cases) {
      const r = cli(args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('rejects one class, a class mismatch, and a checkpoint of another model', async () => {
    const single = join(root, 'single');
    mkdirSync(join(single, 'cat'), { recursive: true });
    await image(join(single, 'cat', 'a.jpg'), 'cat', 1);
    expect(cli(['train', '--model', 'lenet', '--data', single]).stderr).toMatch(/only one class/);
    const mism = join(root, 'mism');
    for (const [split, cls] of [['train', 'cat'], ['train', 'dog'], ['val', 'cat'], ['val', 'bird']]) {
      mkdirSync(join(mism, split, cls), { recursive: true });
      await image(join(mism, split, cls, 'a.jpg'), 'cat', 2);
    }
    expect(cli(['train', '--model', 'lenet', '--data', mism]).stderr).toMatch(/class mismatch/);
    const r = cli(['eval', '--weights', join(root, 'ck', 'lenet.safetensors'), '--model', 'vgg16', '--data', data]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/a lenet checkpoint, not vgg16/);
  });

  it('skips a corrupt image with a warning naming it', async () => {
    const d = join(root, 'corrupt');
    for (const cls of ['cat', 'dog'] as const) {
      mkdirSync(join(d, cls), { recursive: true });
      for (let i = 0; i < 12; i++) await image(join(d, cls, `${i}.jpg`), cls, i);
    }
    writeFileSync(join(d, 'cat', 'broken.jpg'), Buffer.from('definitely not a jpeg'));
    const r = cli(['train', '--model', 'lenet', '--data', d, '--image-size', '16', '--epochs', '1', '--batch-size', '8', '--out', join(root, 'ck-c'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: .*broken\.jpg/);
    expect(JSON.parse(r.stdout).skipped).toBe(1);
  });

  it('stops on a non-finite loss, keeping the best checkpoint', () => {
    const out = join(root, 'ck-nan');
    const r = cli(['train', '--model', 'dnn', '--data', join(root, 'tensors.safetensors'), '--epochs', '3', '--batch-size', '8', '--lr', '1e30', '--clip', '0', '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+/);
  });

  it('writes no partial checkpoint to an unwritable --out', () => {
    const out = join(root, 'ro');
    writeFileSync(out, 'a file where a folder should be');
    const r = cli(['train', '--model', 'dnn', '--data', join(root, 'tensors.safetensors'), '--epochs', '1', '--out', join(out, 'sub')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: .*(ENOTDIR|EEXIST|not a directory)/i);
  });

  it('Ctrl-C finishes the step, writes the last checkpoint and exits 130', async () => {
    const out = join(root, 'ck-int');
    const child = spawn(process.execPath, [CLI, 'train', '--model', 'lenet', '--data', data, '--image-size', '32', '--epochs', '50', '--batch-size', '4', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => {
      err += b;
      if (/model: lenet/.test(err) && !child.killed) setTimeout(() => child.kill('SIGINT'), 1500);
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code, err).toBe(130);
    expect(err).toMatch(/interrupted/);
    expect(existsSync(join(out, 'lenet.last.safetensors'))).toBe(true);
  });
});

describe.skipIf(!hasGpu)('cli with foreign weights', () => {
  it('fine-tunes from a Hugging Face ViT folder, replacing its head, and predicts with it', async () => {
    const { ViT } = await import('../../src/models/vit.js');
    const { initDevice } = await import('../../src/engine/node_gpu.js');
    await initDevice();
    const hf = join(root, 'hf-vit');
    mkdirSync(hf, { recursive: true });
    const cfg = { imageSize: 32, channels: 3, numClasses: 5, patchSize: 16, hidden: 8, layers: 1, heads: 2, intermediate: 16, layerNormEps: 1e-12 };
    const m = new ViT(cfg);
    const t: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [k, v] of m.stateDict()) if ('shape' in v) t[k] = { dtype: 'F32', shape: [...v.shape], data: await v.readF32() };
    m.dispose();
    writeSafetensors(join(hf, 'model.safetensors'), t, { format: 'pt' });
    writeFileSync(join(hf, 'config.json'), JSON.stringify({ model_type: 'vit', image_size: 32, patch_size: 16, num_channels: 3, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, layer_norm_eps: 1e-12, hidden_act: 'gelu', id2label: { 0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e' } }));
    writeFileSync(join(hf, 'preprocessor_config.json'), JSON.stringify({ image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }));

    const img = join(data, 'val', 'cat.0.jpg'); // prepare copies, so the flat files stay
    const p = cli(['predict', '--weights', hf, '--top', '2', img]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/: [a-e] \d+\.\d+%, [a-e] \d+\.\d+%/);

    const out = join(root, 'ck-vit');
    const r = cli(['train', '--model', 'vit', '--pretrained', hf, '--data', data, '--epochs', '1', '--batch-size', '8', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/new head: classifier\.weight, classifier\.bias/);
    expect(r.stderr).toMatch(/vit \(32x32x3, 2 classes\)/);
    expect(Object.keys(JSON.parse(r.stdout).recall)).toEqual(['cat', 'dog']);
  });
});
