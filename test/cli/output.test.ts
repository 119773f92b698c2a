// What the CLI prints: no WebGPU implementation notes unless --verbose, --version, a
// `models` that needs no device, short epoch lines with a per-class table, and the
// learning-rate drops of ReduceLROnPlateau.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors_file.js';
import { gpuAvailable } from '../gpu.js';

const hasGpu = await gpuAvailable();
const CLI = join(process.cwd(), 'dist/cli.js');
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });

describe('cli output', () => {
  it('--version prints the package version', () => {
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('models counts parameters without opening a device', () => {
    const r = run(['models', '--json'], { WEBGPU_ADAPTER: 'no adapter has this name' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const rows = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((m) => [m.model, m]));
    expect(rows.vit.trainable).toBe(85_800_194);
    expect(rows.resnet18.trainable).toBe(1_026);
    const at64 = Object.fromEntries(run(['models', '--json', '--image-size', '64']).stdout.trim().split('\n').map((l) => JSON.parse(l)).map((m) => [m.model, m]));
    expect(at64.dnn.parameters).toBe(64 * 64 * 3 * 256 + 256 + 256 * 128 + 128 + 128 * 2 + 2);
  });

  // stderr to a file, as a shell redirects it (a parent's spawn pipe is a socket, which the
  // CLI cannot point elsewhere and back: there the notes still show)
  const toFile = (args: string[]) => {
    const path = join(mkdtempSync(join(tmpdir(), 'wgdl-err-')), 'stderr');
    const fd = openSync(path, 'w');
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', fd] });
    closeSync(fd);
    return { status: r.status, stdout: r.stdout, stderr: readFileSync(path, 'utf8') };
  };

  it.skipIf(!hasGpu)('prints the WebGPU implementation\'s notes only with --verbose', () => {
    const quiet = toFile(['device']);
    expect(quiet.status).toBe(0);
    expect(quiet.stderr).toBe('');
    const verbose = toFile(['--verbose', 'device']);
    expect(verbose.status).toBe(0);
    // whatever the implementation prints while opening the adapter (lavapipe: two limit notes) shows here
    expect(verbose.stdout).toBe(quiet.stdout);
    if (/llvmpipe/.test(quiet.stdout)) expect(verbose.stderr).toMatch(/maxDynamicUniformBuffersPerPipelineLayout artificially reduced/);
  });

  it.skipIf(!hasGpu)('prints short epoch lines, a per-class table at each best and at the end, and the lr drops', () => {
    const root = mkdtempSync(join(tmpdir(), 'wgdl-out-'));
    const n = 40, K = 10, x = new Float32Array(n * 108), y = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = BigInt(i % K);
      for (let j = 0; j < 108; j++) x[i * 108 + j] = Math.sin(i * 31 + j) + (i % K) / K;
    }
    const file = join(root, 't.safetensors');
    const classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
    writeSafetensors(file, { x: { dtype: 'F32', shape: [n, 3, 6, 6], data: x }, y: { dtype: 'I64', shape: [n], data: y } }, { classes: JSON.stringify(classes) });
    // lr 1e-7: the validation loss stays flat, so the plateau (patience 10) is reached at epoch 12
    const r = run(['train', '--model', 'dnn', '--data', file, '--val', file, '--epochs', '12', '--batch-size', '8', '--lr', '1e-7', '--out', join(root, 'ck')]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const epochs = lines.filter((l) => l.startsWith('epoch '));
    expect(epochs).toHaveLength(12);
    for (const l of epochs) expect(l.length).toBeLessThanOrEqual(120);
    const tables = lines.filter((l) => /^ {2}class\s+precision\s+recall$/.test(l)).length;
    expect(tables).toBe(epochs.filter((l) => l.includes('(best)')).length + (epochs[11].includes('(best)') ? 0 : 1));
    expect(lines.some((l) => /^ {2}Ankle boot\s+\d\.\d{4}\s+\d\.\d{4}$/.test(l))).toBe(true);
    expect(r.stderr).toMatch(/ReduceLROnPlateau: no improvement of the validation loss for 11 epochs: lr 1\.0e-7 -> 1\.0e-8/);
  });
});
