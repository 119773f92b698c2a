// What the CLI does when things go wrong around training: Ctrl-C mid-epoch, an earlier
// run's checkpoints, an unusable --out, temporary files of killed writes, --resume with
// nothing to do or other settings. A small DNN on a tensor file keeps each run short.
import { describe, expect, it, beforeAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors_file.js';
import { gpuAvailable } from '../gpu.js';

const hasGpu = await gpuAvailable();
const CLI = join(process.cwd(), 'dist/cli.js');

function cli(args: string[], timeout = 600_000) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('Warning: max')).join('\n') };
}

/** n samples (3, 6, 6) whose sign says the class. */
function tensors(path: string, n: number): void {
  const x = new Float32Array(n * 108), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = BigInt(i % 2);
    for (let j = 0; j < 108; j++) x[i * 108 + j] = (i % 2 ? 1 : -1) + 0.3 * Math.sin(i * 31 + j);
  }
  writeSafetensors(path, { x: { dtype: 'F32', shape: [n, 3, 6, 6], data: x }, y: { dtype: 'I64', shape: [n], data: y } });
}

const training = (file: string) => JSON.parse(readSafetensors(file).metadata.training);

let root = '', small = '', big = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'wgdl-faults-'));
  small = join(root, 'small.safetensors');
  big = join(root, 'big.safetensors');
  tensors(small, 32);
  tensors(big, 8000);
});

const train = (...args: string[]) => ['train', '--model', 'dnn', '--batch-size', '8', ...args];

describe.skipIf(!hasGpu)('train faults', () => {
  it('Ctrl-C stops mid-epoch, records the step, and --resume continues from it', async () => {
    const out = join(root, 'int');
    // 4,000 steps an epoch: far more than run before the signal
    const child = spawn(process.execPath, [CLI, ...train('--data', big, '--batch-size', '2', '--epochs', '1', '--out', out)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => {
      err += b;
      if (/model: dnn/.test(err) && !child.killed) setTimeout(() => child.kill('SIGINT'), 1500);
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code, err).toBe(130);
    const m = /^interrupted in epoch 1 at step (\d+): last checkpoint written to .*--resume/m.exec(err);
    expect(m, err).not.toBeNull();
    expect(err).not.toMatch(/error:/);
    const step = Number(m![1]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(4000);
    const last = join(out, 'dnn.last.safetensors');
    expect(training(last)).toMatchObject({ epoch: 0, step });

    // --resume takes the recorded batch size and continues at the step; one more step, then stop
    const r = cli(['train', '--model', 'dnn', '--data', big, '--epochs', '1', '--out', out, '--resume', '--max-steps', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`resumed from .* in epoch 1 at step ${step}\\b`));
    expect(r.stderr).toMatch(new RegExp(`stopped after --max-steps 1 \\(epoch 1 at step ${step + 1} of 4000\\)`));
    expect(training(last)).toMatchObject({ epoch: 0, step: step + 1 });
  });

  it('refuses to replace an earlier run\'s checkpoints unless --resume or --overwrite', () => {
    const out = join(root, 'again');
    expect(cli(train('--data', small, '--epochs', '1', '--out', out)).status).toBe(0);
    const r = cli(train('--data', small, '--epochs', '1', '--out', out));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: .*again\/dnn\.safetensors exists from an earlier run: --resume continues it, --overwrite replaces it/);
    expect(cli(train('--data', small, '--epochs', '1', '--out', out, '--overwrite')).status).toBe(0);

    // NaN in --init weights or in the data stops before training, naming the tensor
    const f = readSafetensors(join(out, 'dnn.safetensors'));
    const w = f.tensors.get('layer2.weight')!;
    (w.data as Float32Array)[7] = NaN;
    writeSafetensors(join(root, 'nan.safetensors'), Object.fromEntries(f.tensors), f.metadata);
    const r2 = cli(train('--data', small, '--epochs', '1', '--out', join(root, 'nan-init'), '--init', join(root, 'nan.safetensors')));
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/error: .*nan\.safetensors: layer2\.weight holds NaN or infinite values/);
    const d = readSafetensors(small);
    (d.tensors.get('x')!.data as Float32Array)[3 * 108 + 2] = Infinity;
    writeSafetensors(join(root, 'inf-data.safetensors'), Object.fromEntries(d.tensors));
    const r3 = cli(train('--data', join(root, 'inf-data.safetensors'), '--epochs', '1', '--out', join(root, 'nan-data')));
    expect(r3.stderr).toMatch(/error: .*inf-data\.safetensors: x\[3\] holds NaN or infinite values/);
  });

  it('--resume says when there is nothing to do, and refuses other settings naming them', () => {
    const out = join(root, 'res');
    expect(cli(train('--data', small, '--epochs', '1', '--out', out)).status).toBe(0);
    const done = cli(train('--data', small, '--epochs', '1', '--out', out, '--resume'));
    expect(done.status, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/has finished 1 epoch, --epochs is 1: nothing to do/);
    const size = cli(train('--data', small, '--epochs', '2', '--out', out, '--resume', '--image-size', '8'));
    expect(size.status).toBe(1);
    expect(size.stderr).toMatch(/error: --resume: --image-size 8 differs from 6 in .*dnn\.last\.safetensors/);
    const batch = cli(['train', '--model', 'dnn', '--data', small, '--epochs', '2', '--out', out, '--resume', '--batch-size', '4']);
    expect(batch.stderr).toMatch(/error: --resume: --batch-size 4 differs from 8/);
  });

  it('checks --out before training: one line, never a loop', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, RegExp][] = [
      ['/proc/ckpt', /--out \/proc\/ckpt: cannot create \/proc\/ckpt \(ENOENT/],
      [file, /--out .*a-file: .*a-file is a file, not a directory/],
      [join(file, 'sub'), /--out .*a-file\/sub: .*a-file is a file, not a directory/],
    ];
    for (const [out, msg] of cases) {
      const r = cli(train('--data', small, '--epochs', '1', '--out', out), 60_000);
      expect(r.status, out).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
      expect(r.stderr).not.toMatch(/model: dnn/); // refused before the model was built
    }
  });

  it('removes temporary files of dead writers, and keeps a live one\'s', () => {
    const out = join(root, 'tmp');
    mkdirSync(out);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(out, `dnn.safetensors.tmp-${dead}-0123abcd`), 'partial');
    writeFileSync(join(out, `dnn.safetensors.tmp-${process.pid}-0123abcd`), 'being written');
    const r = cli(train('--data', small, '--epochs', '1', '--out', out));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed 1 temporary file left by an interrupted write/);
    expect(readdirSync(out).sort()).toEqual(['dnn.last.safetensors', 'dnn.run.json', 'dnn.safetensors', `dnn.safetensors.tmp-${process.pid}-0123abcd`]);
    expect(existsSync(join(out, `dnn.safetensors.tmp-${dead}-0123abcd`))).toBe(false);
  });

  it('refuses sizes that cannot fit before allocating, with the figure and what to change', () => {
    const cases: [string[], RegExp][] = [
      [['--model', 'vgg16', '--micro-batch', '512'], /vgg16 at 224x224x3, 512 rows at once: .*needs about [\d.]+ GB.*: lower --micro-batch \(about \d+ fits\) or --image-size/],
      [['--model', 'dnn', '--image-size', '100000'], /dnn at 100000x100000x3, 1 row at once: its layer1\.weight alone is [\d.]+ GB, above this adapter's largest buffer .*: lower --image-size/],
      [['--model', 'vit', '--image-size', '4096'], /vit at 4096x4096x3, 1 row at once: .*needs about [\d.]+ GB.*: lower --image-size/],
    ];
    const data = join(root, 'imgs');
    for (const c of ['cat', 'dog']) {
      mkdirSync(join(data, c), { recursive: true });
      writeFileSync(join(data, c, 'a.jpg'), 'never decoded');
    }
    for (const [args, msg] of cases) {
      const r = cli(['train', ...args, '--data', data, '--out', join(root, 'big')], 60_000);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/model: /);
    }
  });
});
