// Long runs: an epoch of 5,000 steps, and 5,000 steps over several epochs, through the
// built CLI (a crash is an exit code here, not a dead test runner). Tiny model and data,
// so that the step count, not the work per step, is what is tested.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors_file.js';
import { gpuAvailable, optimisedEnv } from '../gpu.js';

const hasGpu = await gpuAvailable();
const CLI = join(process.cwd(), 'dist/cli.js');

/** n separable 1x2x2 samples of two classes, as a tensor file. */
function tensors(path: string, n: number): string {
  const x = new Float32Array(n * 4), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = BigInt(i % 2);
    for (let j = 0; j < 4; j++) x[i * 4 + j] = (i % 2 ? 1 : -1) + 0.5 * Math.sin(i * 7 + j);
  }
  writeSafetensors(path, { x: { dtype: 'F32', shape: [n, 1, 2, 2], data: x }, y: { dtype: 'I64', shape: [n], data: y } });
  return path;
}

/** The mean of the step losses the run record holds for steps (from, to] (each point the mean of its steps). */
function recordedMean(out: string, from: number, to: number): number {
  const { step_loss: c } = JSON.parse(readFileSync(join(out, 'dnn.run.json'), 'utf8'));
  let sum = 0, n = 0;
  c.step.forEach((s: number, i: number) => {
    const k = s - (i ? c.step[i - 1] : 0);
    if (s > from && s <= to) (sum += c.loss[i] * k), (n += k);
  });
  expect(n).toBe(to - from);
  return sum / n;
}

function train(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'train', '--model', 'dnn', '--batch-size', '1', '--lr', '1e-4', '--json', ...args], { encoding: 'utf8', timeout: 1_800_000, env: optimisedEnv() });
  expect(r.status, `exit ${r.status} (signal ${r.signal}): ${r.stderr}`).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

describe.skipIf(!hasGpu)('long runs', { timeout: 1_800_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'wgdl-long-'));

  it('an epoch of 5,000 steps', () => {
    const out = join(root, 'a');
    const [rec] = train(['--data', tensors(join(root, 'a.safetensors'), 5000), '--epochs', '1', '--out', out]);
    expect(rec.steps).toBe(5000); // every step's loss read back (and checked finite)
    // the losses read from the GPU history, step by step, average to the loss the metrics summed on the GPU (batch 1)
    expect(recordedMean(out, 0, 5000)).toBeCloseTo(rec.train_loss, 4);
    expect(rec.train_loss).toBeGreaterThan(0);
    expect(rec.train_acc).toBeGreaterThan(0.95);
  });

  it('5,000 steps over five epochs', () => {
    const out = join(root, 'b');
    const recs = train(['--data', tensors(join(root, 'b.safetensors'), 1000), '--epochs', '5', '--out', out]);
    expect(recs.map((r) => r.epoch)).toEqual([1, 2, 3, 4, 5]);
    expect(recs.map((r) => r.steps)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(recs.at(-1).train_loss).toBeLessThan(recs[0].train_loss);
    expect(recordedMean(out, 4000, 5000)).toBeCloseTo(recs.at(-1).train_loss, 4);
  });
});
