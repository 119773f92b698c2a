// Run records and reports end to end: short real runs with the built CLI (LeNet with a
// resume, and a DNN, on a small tensor file), the record checked field by field, the
// Markdown and the HTML page's tables against the record, the page opened in headless
// Chromium (no console errors, no network) with a screenshot, and eval --report's gallery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { writeSafetensors } from '../../src/io/safetensors_file.js';
import type { RunRecord } from '../../src/commands/record.js';
import { gpuAvailable } from '../gpu.js';
import { launchChromium, openFile, tableCells } from '../browser.js';

const hasGpu = await gpuAvailable();
const CLI = join(process.cwd(), 'dist/cli.js');
const SHOTS = join(process.cwd(), 'tmp', 'test-report'); // ignored by git

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 900_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Two classes told apart by the sign of a pattern; `flip` labels are wrong on purpose (mistakes for the gallery). */
function tensorFile(path: string, n: number, offset: number, flip = 0): void {
  const x = new Float32Array(n * 256), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    y[i] = BigInt(i < flip ? 1 - c : c);
    for (let j = 0; j < 256; j++) x[i * 256 + j] = (c ? 0.6 : -0.6) * Math.cos(j / 9) + 0.7 * Math.sin((i + offset) * 31 + j);
  }
  writeSafetensors(path, { x: { dtype: 'F32', shape: [n, 1, 16, 16], data: x }, y: { dtype: 'I64', shape: [n], data: y } }, { classes: JSON.stringify(['cat', 'dog']) });
}

let root = '';
let browser: Browser | null = null;
let noBrowser = '';
const N_VAL = 32;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wgdl-report-'));
  tensorFile(join(root, 'train.safetensors'), 96, 0);
  tensorFile(join(root, 'val.safetensors'), N_VAL, 5000, 5);
  ({ browser, reason: noBrowser } = await launchChromium());
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

const near = (shown: string, value: number | null, scale = 1, digits = 2) => {
  if (value === null) return expect(shown).toBe('-');
  expect(Math.abs(parseFloat(shown.replace(/,/g, '')) - value * scale), `${shown} vs ${value}`).toBeLessThanOrEqual(0.5 * 10 ** -digits + 1e-9);
};

/** The three comparison tables (header row first) checked against the records, by model. */
function checkTables(tables: { accuracy: string[][]; perClass: string[][]; size: string[][] }, records: Record<string, RunRecord>, dir: Record<string, string>): void {
  const models = Object.keys(records);
  expect(tables.accuracy[0]).toEqual(['model', 'data', 'trainable parameters', 'best val accuracy', 'best epoch', 'seed: trainable parameters', 'seed: val accuracy']);
  expect(tables.accuracy.slice(1).map((r) => r[0])).toEqual(models);
  for (const row of tables.accuracy.slice(1)) {
    const r = records[row[0]];
    expect(row[1]).toContain(`16x16x1, ${r.epochs.length} epoch`);
    expect(row[2]).toBe(r.trainable_parameters.toLocaleString('en'));
    near(row[3], r.best_val_acc, 100);
    expect(row[4]).toBe(String(r.best_epoch));
  }
  // The seed's published figures for LeNet and the DNN (its results tables).
  const seed: Record<string, string[]> = { lenet: ['5,406,606', '88.00%'], dnn: ['38,568,578', '50.20%'] };
  for (const row of tables.accuracy.slice(1)) expect(row.slice(5)).toEqual(seed[row[0]]);

  expect(tables.perClass[0]).toEqual(['model', 'class', 'precision', 'recall', 'seed: precision', 'seed: recall']);
  expect(tables.perClass.length - 1).toBe(2 * models.length);
  const seedPr: Record<string, string[]> = { 'lenet cat': ['0.87', '0.90'], 'lenet dog': ['0.90', '0.86'], 'dnn cat': ['0.50', '1.00'], 'dnn dog': ['1.00', '0.00'] };
  for (const row of tables.perClass.slice(1)) {
    const r = records[row[0]], e = r.epochs.find((x) => x.epoch === r.best_epoch)!;
    const k = r.config.classes.indexOf(row[1]);
    expect(k).toBeGreaterThanOrEqual(0);
    near(row[2], e.precision![k]);
    near(row[3], e.recall![k]);
    expect(row.slice(4)).toEqual(seedPr[`${row[0]} ${row[1]}`]);
  }

  expect(tables.size[0]).toEqual(['model', 'image size', 'parameters', 'trainable parameters', 'checkpoint', 'seed: checkpoint']);
  for (const row of tables.size.slice(1)) {
    const r = records[row[0]];
    expect(row[2]).toBe(r.parameters.toLocaleString('en'));
    expect(r.checkpoint_bytes).toBe(statSync(join(dir[row[0]], `${row[0]}.safetensors`)).size);
    near(row[4].replace(' MB', ''), r.checkpoint_bytes! / 2 ** 20, 1, 1);
    expect(row[5]).toBe(row[0] === 'lenet' ? '21 MB' : '148 MB');
  }
}

/** Markdown tables after each `#### title`, as cells (header first, the alignment row dropped). */
function markdownTables(md: string): Record<string, string[][]> {
  const out: Record<string, string[][]> = {};
  for (const part of md.split('#### ').slice(1)) {
    const [title, ...lines] = part.split('\n');
    out[title] = lines.filter((l) => l.startsWith('|') && !/^\|[-:|]+\|$/.test(l)).map((l) => l.slice(2, -2).split(' | '));
  }
  return out;
}

describe.skipIf(!hasGpu)('run record and report', { timeout: 900_000 }, () => {
  const out = () => join(root, 'lenet-run');
  const dnnOut = () => join(root, 'dnn-run');
  const records: Record<string, RunRecord> = {};
  let stderr = '';

  it('train writes the record every epoch and --resume appends to it', () => {
    const args = ['train', '--model', 'lenet', '--data', join(root, 'train.safetensors'), '--val', join(root, 'val.safetensors'), '--batch-size', '8', '--lr', '0.003', '--seed', '3', '--out', out(), '--json'];
    const first = cli([...args, '--epochs', '2']);
    expect(first.status, first.stderr).toBe(0);
    const afterTwo = JSON.parse(readFileSync(join(out(), 'lenet.run.json'), 'utf8')) as RunRecord;
    expect(afterTwo.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    const resumed = cli([...args, '--epochs', '3', '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    stderr = first.stderr;
    const r = (records.lenet = JSON.parse(readFileSync(join(out(), 'lenet.run.json'), 'utf8')) as RunRecord);
    const printed = (first.stdout + resumed.stdout).trim().split('\n').map((l) => JSON.parse(l));

    expect(r.format).toBe('webgpu-dl-run/1');
    expect(r.model).toBe('lenet');
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(r.config).toMatchObject({
      model: 'lenet', data: join(root, 'train.safetensors'), val: join(root, 'val.safetensors'), image_size: 16, channels: 1, classes: ['cat', 'dog'],
      optimizer: 'adam', lr: 0.003, momentum: 0, weight_decay: 0, batch_size: 8, micro_batch: 8, clip: 1, seed: 3, epochs: 3,
      augment: true, shuffle: true, dropout: null, init: null, pretrained: null, frozen_backbone: false, max_steps: null,
      engine_version: pkg.version, node_version: process.versions.node,
    });
    expect(r.config.data_description).toMatch(/96 items/);
    const device = JSON.parse(cli(['device', '--json']).stdout);
    expect(r.config.adapter).toMatchObject({ description: device.adapter.description, backend: device.adapter.backend, software: device.software });
    expect(r.resumed).toHaveLength(1);
    expect(r.resumed[0]).toMatchObject({ after_epoch: 2, epochs: 3, changed: {} });
    expect(r.epochs.slice(0, 2)).toEqual(afterTwo.epochs);

    // Per epoch: what train printed, and figures consistent with the confusion matrix and the step losses.
    expect(r.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(r.step_loss.every).toBe(1);
    expect(r.step_loss.step).toEqual(Array.from({ length: 36 }, (_, i) => i + 1));
    let best = -1;
    r.epochs.forEach((e, i) => {
      const p = printed[i];
      for (const k of ['train_loss', 'train_acc', 'val_loss', 'val_acc', 'lr', 'images_per_s', 'seconds', 'skipped', 'steps', 'best'] as const) expect(e[k], k).toBe(p[k]);
      expect(e.precision).toEqual(Object.values(p.precision));
      expect(e.recall).toEqual(Object.values(p.recall));
      expect(e.steps).toBe(12);
      expect(e.global_step).toBe(12 * (i + 1));
      const cm = e.confusion!;
      expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(N_VAL);
      expect(e.val_acc).toBeCloseTo((cm[0][0] + cm[1][1]) / N_VAL, 6);
      for (const k of [0, 1]) {
        expect(e.recall![k]).toBeCloseTo(cm[k][k] / (cm[k][0] + cm[k][1] || 1), 6);
        expect(e.precision![k]).toBeCloseTo(cm[k][k] / (cm[0][k] + cm[1][k] || 1), 6);
      }
      // Every batch is full (96 = 12 x 8), so the epoch's loss is the mean of its steps'.
      const steps = r.step_loss.loss.slice(12 * i, 12 * (i + 1));
      expect(e.train_loss).toBeCloseTo(steps.reduce((a, b) => a + b, 0) / 12, 5);
      expect(e.lr).toBe(0.003);
      expect(e.images_per_s).toBeGreaterThan(0);
      expect(e.seconds).toBeGreaterThan(0);
      expect(e.best).toBe(e.val_acc! > best);
      best = Math.max(best, e.val_acc!);
      expect(Date.parse(e.finished_at)).toBeGreaterThan(Date.parse(r.started_at));
    });
    expect(r.best_val_acc).toBe(best);
    expect(r.best_epoch).toBe(r.epochs.filter((e) => e.best).at(-1)!.epoch);
    const [, total, trainable] = /lenet \(16x16x1, 2 classes\), ([\d,]+) parameters \(([\d,]+) trainable\)/.exec(stderr)!;
    expect(r.parameters.toLocaleString('en')).toBe(total);
    expect(r.trainable_parameters.toLocaleString('en')).toBe(trainable);
    expect(r.checkpoint).toBe('lenet.safetensors');
    expect(r.checkpoint_bytes).toBe(statSync(join(out(), 'lenet.safetensors')).size);
  });

  it('a second model\'s run, for a report of several', () => {
    const r = cli(['train', '--model', 'dnn', '--data', join(root, 'train.safetensors'), '--val', join(root, 'val.safetensors'), '--batch-size', '16', '--epochs', '2', '--out', dnnOut()]);
    expect(r.status, r.stderr).toBe(0);
    records.dnn = JSON.parse(readFileSync(join(dnnOut(), 'dnn.run.json'), 'utf8'));
    expect(records.dnn.epochs).toHaveLength(2);
  });

  it('report --format md: the seed\'s three tables, equal to the records', () => {
    const r = cli(['report', out(), dnnOut(), '--format', 'md']);
    expect(r.status, r.stderr).toBe(0);
    const t = markdownTables(r.stdout);
    expect(Object.keys(t)).toEqual(['Best validation accuracy', 'Precision and recall per class (best epoch, validation set)', 'Checkpoint size']);
    checkTables({ accuracy: t['Best validation accuracy'], perClass: t['Precision and recall per class (best epoch, validation set)'], size: t['Checkpoint size'] }, records, { lenet: out(), dnn: dnnOut() });
    // One run, named by its record file.
    const one = cli(['report', join(dnnOut(), 'dnn.run.json'), '--format', 'md']);
    expect(one.status, one.stderr).toBe(0);
    const t1 = markdownTables(one.stdout);
    checkTables({ accuracy: t1['Best validation accuracy'], perClass: t1['Precision and recall per class (best epoch, validation set)'], size: t1['Checkpoint size'] }, { dnn: records.dnn }, { dnn: dnnOut() });
  });

  it('report writes one self-contained page: it opens in Chromium without errors, its tables equal the records', async (ctx) => {
    if (!browser) return ctx.skip(noBrowser);
    const file = join(root, 'report.html');
    const r = cli(['report', out(), dnnOut(), '--out', file]);
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const { page, errors } = await openFile(browser, file);
    expect(errors).toEqual([]);
    checkTables({ accuracy: await tableCells(page, '#accuracy'), perClass: await tableCells(page, '#per-class'), size: await tableCells(page, '#size') }, records, { lenet: out(), dnn: dnnOut() });
    // The epoch table of each run, and its charts: loss, accuracy, lr, step loss, throughput, confusion, precision/recall.
    for (const [model, rec] of Object.entries(records)) {
      const rows = (await tableCells(page, `#run-${model}-epochs`)).slice(1);
      expect(rows).toHaveLength(rec.epochs.length);
      rows.forEach((row, i) => {
        const e = rec.epochs[i];
        expect(row[0]).toBe(`${e.epoch}${e.best ? ' (best)' : ''}`);
        near(row[1], e.train_loss, 1, 4);
        near(row[2], e.train_acc, 100);
        near(row[3], e.val_loss, 1, 4);
        near(row[4], e.val_acc, 100);
        expect(Number(row[5])).toBeCloseTo(e.lr, 8);
        near(row[6], e.images_per_s, 1, 1);
      });
      const titles = await page.$$eval(`#run-${model} svg`, (svgs) => svgs.map((s) => s.getAttribute('aria-label')));
      expect(titles.map((t) => t?.replace(/[,(].*/, '').trim())).toEqual(['Loss', 'Accuracy', 'Learning rate', 'Training loss per step', 'Training throughput', 'Confusion matrix', 'Precision and recall']);
      const best = rec.epochs.find((e) => e.epoch === rec.best_epoch)!;
      const cells = await page.$$eval(`#run-${model} svg[aria-label^="Confusion"] rect title`, (ts) => ts.map((t) => Number(t.textContent!.split(': ')[1])));
      expect(cells).toEqual(best.confusion!.flat());
    }
    mkdirSync(SHOTS, { recursive: true });
    const shot = join(SHOTS, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    await page.close();
  });

  it('eval --report: a gallery of the worst mistakes, each image with its true and predicted class', async (ctx) => {
    const file = join(root, 'mistakes.html');
    const r = cli(['eval', '--weights', join(out(), 'lenet.safetensors'), '--data', join(root, 'val.safetensors'), '--json', '--report', file]);
    expect(r.status, r.stderr).toBe(0);
    const ev = JSON.parse(r.stdout);
    const wrong = ev.count - Math.round(ev.accuracy * ev.count);
    expect(wrong).toBeGreaterThanOrEqual(5); // the flipped labels at least
    expect(existsSync(file)).toBe(true);
    if (!browser) return ctx.skip(noBrowser);
    const { page, errors } = await openFile(browser, file);
    expect(errors).toEqual([]);
    const figs = await page.$$eval('.gallery figure', (fs) => fs.map((f) => {
      const img = f.querySelector('img')!;
      return { w: img.naturalWidth, h: img.naturalHeight, text: f.querySelector('figcaption')!.textContent! };
    }));
    expect(figs).toHaveLength(Math.min(48, wrong));
    const pTrue: number[] = [];
    for (const f of figs) {
      expect([f.w, f.h]).toEqual([16, 16]);
      const m = /true (cat|dog) \(<?([\d.]+)%\)predicted (cat|dog) \(([\d.]+)%\)/.exec(f.text)!;
      expect(m, f.text).not.toBeNull();
      expect(m[1]).not.toBe(m[3]);
      expect(Number(m[2]) + Number(m[4])).toBeCloseTo(100, 0); // two classes
      pTrue.push(Number(m[2]));
    }
    expect(pTrue).toEqual([...pTrue].sort((a, b) => a - b));
    const summary = (await tableCells(page, '#summary'))[1];
    expect(summary.slice(0, 3)).toEqual([String(ev.count), String(ev.count - wrong), String(wrong)]);
    await page.screenshot({ path: join(SHOTS, 'mistakes.png'), fullPage: true });
    await page.close();
  });

  it('report names a folder without a record, and a file that is not one', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const a = cli(['report', empty]);
    expect(a.status).not.toBe(0);
    expect(a.stderr).toMatch(/empty: no run record/);
    const b = cli(['report', join(root, 'train.safetensors'), '--format', 'md']);
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/train\.safetensors: not a readable run record/);
  });
});
