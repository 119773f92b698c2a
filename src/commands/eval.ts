// `eval`: loss, accuracy, per-class precision and recall and the confusion matrix of
// trained weights on a data set (its validation set when it has one), with an optional
// gallery of the worst mistakes.

import { DataLoader } from '../data/loader.js';
import { resolveData } from '../data/source.js';
import { evaluate } from './evaluate.js';
import { openModel, openWeights } from './weights.js';
import { log, warnAll } from './progress.js';
import { worstPredictions, writeGallery } from './gallery.js';

export interface EvalOptions {
  weights: string;
  model?: string;
  data?: string;
  batchSize: number;
  json: boolean;
  /** Also write a gallery of the worst mistakes (true: eval-report.html). */
  report?: string | boolean;
}

/** Loss, accuracy, per-class precision/recall and the confusion matrix on the validation data (or all of it). */
export async function evalCommand(o: EvalOptions): Promise<void> {
  const w = openWeights(o.weights, o.model);
  const data = resolveData(o.data);
  warnAll(data.warnings);
  if (data.classes.join('\n') !== w.classes.join('\n') && w.ours) {
    throw new Error(`${o.weights}: trained on classes [${w.classes.join(', ')}], the data has [${data.classes.join(', ')}]`);
  }
  const sets = data.open({ size: w.config.imageSize, channels: w.config.channels, augment: false, mean: w.mean, std: w.std });
  const set = sets.val ?? sets.train;
  log(`evaluating ${w.spec.name} from ${w.path} on ${data.description}${sets.val ? ' (validation set)' : ''}`);
  const model = await openModel(w, o.batchSize);
  try {
    const loader = new DataLoader(set, { batchSize: o.batchSize, shuffle: false, train: false, onWarn: (m) => log(`warning: ${m}`) });
    const r = await evaluate(model, loader, data.classes.length);
    if (o.report) {
      const out = typeof o.report === 'string' ? o.report : 'eval-report.html';
      const mistakes = await worstPredictions(model, loader, o.batchSize, 48);
      await writeGallery(out, set, mistakes, r, { weights: w.path, model: w.spec.name, data: data.description, classes: data.classes, mean: w.mean, std: w.std });
      log(`the ${mistakes.length} worst mistakes written to ${out}`);
    }
    const k = data.classes.length;
    const confusion = Array.from({ length: k }, (_, i) => Array.from(r.confusion!.subarray(i * k, i * k + k)));
    if (o.json) {
      console.log(JSON.stringify({ loss: r.loss, accuracy: r.accuracy, count: r.count, classes: data.classes, precision: r.precision, recall: r.recall, confusion }));
      return;
    }
    console.log(`loss ${r.loss.toFixed(4)}  accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.correct}/${r.count})`);
    const width = Math.max(9, ...data.classes.map((c) => c.length));
    console.log(`${'class'.padEnd(width)}  precision  recall`);
    data.classes.forEach((c, i) => console.log(`${c.padEnd(width)}  ${r.precision![i].toFixed(4).padStart(9)}  ${r.recall![i].toFixed(4).padStart(6)}`));
    console.log(`confusion matrix (rows: true class, columns: predicted)`);
    confusion.forEach((row, i) => console.log(`${data.classes[i].padEnd(width)}  ${row.map((v) => String(v).padStart(6)).join(' ')}`));
  } finally {
    model.dispose();
  }
}
