// The run record's own logic: step-loss decimation, and what --resume keeps of a record.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addStepLosses, readRunRecord, RunRecorder, type RunConfig, type RunRecord } from '../../src/commands/record.js';
import type { EpochRecord } from '../../src/commands/train.js';
import type { MetricsReport } from '../../src/autograd/metrics.js';

describe('step-loss decimation', () => {
  it('keeps at most max points, each the exact mean of its steps, across uneven epochs', () => {
    const raw: number[] = [];
    let s = 7;
    const curve: RunRecord['step_loss'] = { every: 1, step: [], loss: [] };
    for (const n of [13, 250, 1, 77, 640, 19]) {
      const losses = Array.from({ length: n }, () => ((s = (s * 48271) % 2147483647) / 2147483647) * 3);
      addStepLosses(curve, raw.length, losses, 16);
      raw.push(...losses);
      expect(curve.step.length).toBeLessThanOrEqual(16);
      expect(curve.step.at(-1)).toBe(raw.length);
      curve.step.forEach((end, i) => {
        const start = i ? curve.step[i - 1] : 0;
        if (i < curve.step.length - 1) expect(end - start).toBe(curve.every);
        else expect(end - start).toBeLessThanOrEqual(curve.every);
        const mean = raw.slice(start, end).reduce((a, b) => a + b, 0) / (end - start);
        expect(curve.loss[i]).toBeCloseTo(mean, 10);
      });
    }
    expect(curve.every).toBe(64); // 1000 steps in at most 16 points: 16 of 64 or fewer
  });

  it('keeps every step while there are few', () => {
    const curve: RunRecord['step_loss'] = { every: 1, step: [], loss: [] };
    addStepLosses(curve, 0, [3, 2, 1]);
    addStepLosses(curve, 3, [0.5]);
    expect(curve).toEqual({ every: 1, step: [1, 2, 3, 4], loss: [3, 2, 1, 0.5] });
  });
});

describe('RunRecorder', () => {
  const config = { model: 'lenet', classes: ['cat', 'dog'], epochs: 3 } as RunConfig;
  const init = (epochs: number) => ({ config: { ...config, epochs }, parameters: 10, trainable: 8, checkpoint: 'lenet.safetensors' });
  const epoch = (n: number, acc: number, best: boolean): EpochRecord => ({
    epoch: n, epochs: 3, train_loss: 1 / n, train_acc: acc, val_loss: 1 / n, val_acc: acc, precision: null, recall: null, lr: 1e-3, images_per_s: 100, seconds: 1, skipped: 0, steps: 10, best,
  });
  const val = (cm: number[]): MetricsReport => ({ loss: 0, accuracy: 0, correct: 0, count: 0, badLabels: 0, confusion: Int32Array.from(cm), precision: [0.5, 1], recall: [1, 0.5] });

  it('rewrites the file each epoch; --resume drops what came after the resumed epoch and appends', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgdl-record-'));
    const path = join(dir, 'lenet.run.json');
    const a = new RunRecorder(path, init(3), null);
    a.addEpoch(epoch(1, 0.6, true), val([3, 1, 0, 4]), Array(10).fill(1));
    expect(readRunRecord(path).epochs).toHaveLength(1);
    a.addEpoch(epoch(2, 0.8, true), val([4, 0, 0, 4]), Array(10).fill(2));
    a.addEpoch(epoch(3, 0.7, false), val([4, 0, 1, 3]), Array(10).fill(3));
    let r = readRunRecord(path);
    expect(r.epochs.map((e) => [e.epoch, e.steps, e.global_step])).toEqual([[1, 10, 10], [2, 10, 20], [3, 10, 30]]);
    expect(r.epochs[0].confusion).toEqual([[3, 1], [0, 4]]);
    expect(r.epochs[0].precision).toEqual([0.5, 1]);
    expect([r.best_epoch, r.best_val_acc]).toEqual([2, 0.8]);
    expect(r.checkpoint_bytes).toBeNull(); // no checkpoint file in this folder

    // Continued from the checkpoint of epoch 2 (epoch 3 was interrupted): epoch 3 runs again.
    const b = new RunRecorder(path, { ...init(4), config: { ...config, epochs: 4, lr: 1e-4 } }, 2);
    expect(b.globalStep).toBe(20);
    b.addEpoch(epoch(3, 0.9, true), val([4, 0, 0, 4]), Array(10).fill(5));
    r = readRunRecord(path);
    expect(r.epochs.map((e) => [e.epoch, e.global_step, e.val_acc])).toEqual([[1, 10, 0.6], [2, 20, 0.8], [3, 30, 0.9]]);
    expect(r.step_loss.loss).toEqual([...Array(10).fill(1), ...Array(10).fill(2), ...Array(10).fill(5)]);
    expect(r.config.epochs).toBe(4);
    expect(r.resumed).toMatchObject([{ after_epoch: 2, epochs: 4, changed: { lr: 1e-4 } }]);
    expect(r.config.lr).toBeUndefined(); // the first run's configuration
    expect([r.best_epoch, r.best_val_acc]).toEqual([3, 0.9]);
    expect(readdirSync(dir)).toEqual(['lenet.run.json']); // no temporary file left
    expect(readFileSync(path, 'utf8')).toMatch(/"loss": \[1,1,1,/); // number arrays on one line
  });

  it('without a validation set the best checkpoint is the last epoch\'s', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'wgdl-record-')), 'lenet.run.json');
    const a = new RunRecorder(path, init(2), null);
    for (const n of [1, 2]) a.addEpoch({ ...epoch(n, 0.5, false), val_loss: null, val_acc: null }, null, [1]);
    const r: RunRecord = readRunRecord(path);
    expect([r.best_epoch, r.best_val_acc]).toEqual([2, null]);
    expect(r.epochs[1].confusion).toBeNull();
  });

  it('names a file that is not a record', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'wgdl-record-')), 'x.run.json');
    new RunRecorder(path, init(1), null).addEpoch(epoch(1, 0.5, true), null, [1]);
    expect(() => readRunRecord(join(path, '..', 'missing.run.json'))).toThrow(/missing\.run\.json: not a readable run record/);
    writeFileSync(path, '{"epochs": []}');
    expect(() => readRunRecord(path)).toThrow(/x\.run\.json: not a run record/);
  });
});
