// `eval --report`: the validation images a checkpoint gets most wrong, as one HTML page
// of thumbnails (embedded as PNG data URIs) with the true class, the predicted class and
// their probabilities, beside the confusion matrix.

import { basename } from 'node:path';
import sharp from 'sharp';
import { Tensor, tidy } from '../engine/tensor.js';
import { noGrad } from '../autograd/tape.js';
import { softmax } from '../autograd/softmax.js';
import type { MetricsReport } from '../autograd/metrics.js';
import type { Dataset } from '../data/datasets.js';
import { DataLoader } from '../data/loader.js';
import { Rng } from '../engine/rng.js';
import { writeFileAtomic, writeAll } from '../io/atomic.js';
import type { Module } from '../nn/module.js';
import { escapeXml as esc, heatMap } from '../report/charts.js';
import { htmlTable, page } from '../report/html.js';

export interface Mistake {
  index: number;
  name: string;
  label: number;
  pred: number;
  /** Probability of the predicted class, and of the true one. */
  pPred: number;
  pTrue: number;
}

/** The misclassified items, most confidently wrong first (lowest probability of the true class), at most `limit`. */
export async function worstPredictions(model: Module, loader: DataLoader, batchSize: number, limit: number): Promise<Mistake[]> {
  const ds = loader.dataset, K = ds.classes.length;
  const order = loader.order(0), bs = batchSize;
  const wrong: Mistake[] = [];
  model.eval();
  let b = 0;
  for await (const batch of loader.epoch(0)) {
    const skipped = new Set(batch.skipped);
    const items = order.slice(b * bs, ++b * bs).filter((i) => !skipped.has(ds.describe(i)));
    if (batch.n === 0) continue;
    const probs = noGrad(() => tidy(() => softmax(model.forward(Tensor.from(batch.x, [batch.n, ds.channels, ds.height, ds.width])))));
    const p = await probs.readF32();
    probs.dispose();
    items.forEach((index, r) => {
      const row = p.subarray(r * K, r * K + K), label = batch.y[r];
      let pred = 0;
      for (let k = 1; k < K; k++) if (row[k] > row[pred]) pred = k;
      if (pred !== label) wrong.push({ index, name: ds.describe(index), label, pred, pPred: row[pred], pTrue: row[label] });
    });
  }
  return wrong.sort((a, b) => a.pTrue - b.pTrue).slice(0, limit);
}

/** Item i as the model sees it (the evaluation transform), undone normalisation, as a PNG data URI. */
async function thumbnail(ds: Dataset, i: number, mean: readonly number[], std: readonly number[]): Promise<string> {
  const chw = await ds.get(i, false, new Rng(0));
  const { channels: C, height: H, width: W } = ds;
  const hwc = Buffer.alloc(H * W * C);
  for (let c = 0; c < C; c++) {
    const m = mean[c] ?? mean[0], s = std[c] ?? std[0];
    for (let p = 0; p < H * W; p++) hwc[p * C + c] = Math.max(0, Math.min(255, Math.round(255 * (chw[c * H * W + p] * s + m))));
  }
  const png = await sharp(hwc, { raw: { width: W, height: H, channels: C as 1 | 3 } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

const percent = (p: number) => (p < 0.0005 ? '<0.1%' : `${(100 * p).toFixed(1)}%`);

export interface GalleryInfo {
  weights: string;
  model: string;
  data: string;
  classes: readonly string[];
  mean: readonly number[];
  std: readonly number[];
}

/** Writes the gallery page to `out`. */
export async function writeGallery(out: string, ds: Dataset, mistakes: readonly Mistake[], metrics: MetricsReport, info: GalleryInfo): Promise<void> {
  const cls = info.classes, k = cls.length;
  const cm = metrics.confusion!;
  const confusion = Array.from({ length: k }, (_, i) => Array.from(cm.subarray(i * k, i * k + k)));
  const figures: string[] = [];
  for (const m of mistakes) {
    figures.push(`<figure><img alt="${esc(`${cls[m.label]} predicted as ${cls[m.pred]}`)}" src="${await thumbnail(ds, m.index, info.mean, info.std)}">`
      + `<figcaption>true <b>${esc(cls[m.label])}</b> (${percent(m.pTrue)})<br>predicted <b class="bad">${esc(cls[m.pred])}</b> (${percent(m.pPred)})`
      + `<br><span class="muted name" title="${esc(m.name)}">${esc(basename(m.name))}</span></figcaption></figure>`);
  }
  const wrong = metrics.count - metrics.correct;
  const body = [
    `<h1>Where ${esc(info.model)} goes wrong</h1>`,
    `<p class="muted">${esc(info.weights)} on ${esc(info.data)}</p>`,
    htmlTable({ id: 'summary', head: ['images', 'correct', 'wrong', 'accuracy', 'loss'], rows: [[metrics.count.toLocaleString('en'), metrics.correct.toLocaleString('en'), wrong.toLocaleString('en'), `${(100 * metrics.accuracy).toFixed(2)}%`, metrics.loss.toFixed(4)]] }),
    `<div class="charts">${heatMap(confusion, { title: 'Confusion matrix', rows: cls, cols: cls, xLabel: 'predicted', yLabel: 'true' })}</div>`,
    `<h2>The ${mistakes.length} most confident mistakes${wrong > mistakes.length ? ` of ${wrong.toLocaleString('en')}` : ''}</h2>`,
    `<p class="note">Ordered by the probability given to the true class, lowest first; images as the model sees them (after the evaluation transform).</p>`,
    mistakes.length ? `<div class="gallery">${figures.join('')}</div>` : '<p>No mistakes.</p>',
  ];
  const bytes = new TextEncoder().encode(page(`${info.model}: mistakes`, body.join('\n')));
  writeFileAtomic(out, (fd) => writeAll(fd, bytes));
}
