// The report as one self-contained HTML page (inline CSS and SVG, no script, no network):
// the seed's comparison tables across runs, then each run's curves, learning rate,
// throughput, confusion matrix and per-class precision/recall.

import { barChart, escapeXml as esc, heatMap, lineChart } from './charts.js';
import { bestEpoch, comparisonTables, count, dataLabel, fixed, numericColumns, pct, type Run, type Table } from './tables.js';

export const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; } .muted, .note { color: #666; } .note { font-size: 12px; margin: 4px 0 14px; }
table { border-collapse: collapse; margin: 4px 0; font-size: 13px; } th, td { padding: 3px 9px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: flex-start; } .charts svg { border: 1px solid #eee; }
dl.config { display: grid; grid-template-columns: max-content 1fr max-content 1fr max-content 1fr; gap: 2px 12px; font-size: 13px; margin: 6px 0; }
dl.config dt { color: #666; } dl.config dd { margin: 0; }
nav a { margin-right: 12px; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; } .gallery figure { margin: 0; width: 140px; font-size: 12px; }
.gallery img { width: 128px; height: 128px; image-rendering: pixelated; border: 1px solid #ccc; display: block; } .bad { color: #b3261e; }
.gallery .name { overflow-wrap: anywhere; }
`;

export function htmlTable(t: Pick<Table, 'head' | 'rows'> & { id?: string }): string {
  const num = numericColumns({ ...t, id: '', title: '', note: '' });
  const cls = (j: number) => (num[j] ? ' class="num"' : '');
  return `<table${t.id ? ` id="${esc(t.id)}"` : ''}><thead><tr>${t.head.map((h, j) => `<th${cls(j)}>${esc(h)}</th>`).join('')}</tr></thead>`
    + `<tbody>${t.rows.map((r) => `<tr>${r.map((c, j) => `<td${cls(j)}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

export function page(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${esc(title)}</title><style>${STYLE}</style></head><body>\n${body}\n</body></html>\n`;
}

const anchor = (label: string) => `run-${label.replace(/[^\w-]+/g, '-')}`;

export function htmlReport(runs: readonly Run[], generatedAt = new Date()): string {
  const tables = comparisonTables(runs);
  const body = [
    `<h1>Training report</h1>`,
    `<p class="muted">${runs.length} run${runs.length === 1 ? '' : 's'}, generated ${esc(generatedAt.toISOString().replace('T', ' ').slice(0, 16))} UTC by webgpu-dl</p>`,
    `<nav>${runs.map((r) => `<a href="#${anchor(r.label)}">${esc(r.label)}</a>`).join('')}</nav>`,
    `<h2>Compared with the seed</h2>`,
    ...tables.map((t) => `<h3>${esc(t.title)}</h3>${htmlTable(t)}<p class="note">${esc(t.note)}</p>`),
    ...runs.map(runSection),
  ];
  return page('Training report', body.join('\n'));
}

function runSection(run: Run): string {
  const r = run.record, c = r.config;
  const ep = r.epochs.map((e) => e.epoch);
  const hasVal = r.epochs.some((e) => e.val_loss !== null);
  const best = bestEpoch(r);
  const cfg: [string, string][] = [
    ['data', dataLabel(r)], ['classes', `${c.classes.length}`], ['optimiser', `${c.optimizer}, lr ${c.lr}${c.weight_decay ? `, weight decay ${c.weight_decay}` : ''}${c.optimizer === 'sgd' ? `, momentum ${c.momentum}` : ''}`],
    ['batch', `${c.batch_size}${c.micro_batch ? ` (micro-batch ${c.micro_batch})` : ''}`], ['clip', String(c.clip)], ['seed', String(c.seed)],
    ['parameters', `${count(r.parameters)} (${count(r.trainable_parameters)} trainable)`], ['best epoch', r.best_epoch === null ? '-' : `${r.best_epoch}${r.best_val_acc === null ? ' (no validation set: the last)' : ` (${pct(r.best_val_acc)})`}`],
    ['adapter', `${c.adapter.description || c.adapter.device} (${c.adapter.backend})`], ['engine', `webgpu-dl ${c.engine_version}, Node ${c.node_version}`],
    ['started', r.started_at.replace('T', ' ').slice(0, 19)], ['resumed', r.resumed.length ? r.resumed.map((x) => `after epoch ${x.after_epoch}`).join(', ') : 'no'],
  ];
  const W = 370, H = 230;
  const charts = [
    lineChart([
      { name: 'train', x: ep, y: r.epochs.map((e) => e.train_loss) },
      ...(hasVal ? [{ name: 'val', x: ep, y: r.epochs.map((e) => e.val_loss) }] : []),
    ], { title: 'Loss', xLabel: 'epoch', width: W, height: H }),
    lineChart([
      { name: 'train', x: ep, y: r.epochs.map((e) => e.train_acc) },
      ...(hasVal ? [{ name: 'val', x: ep, y: r.epochs.map((e) => e.val_acc) }] : []),
    ], { title: 'Accuracy', xLabel: 'epoch', percent: true, width: W, height: H }),
    lineChart([{ name: 'learning rate', x: ep, y: r.epochs.map((e) => e.lr) }], { title: 'Learning rate', xLabel: 'epoch', logY: true, width: W, height: H }),
    lineChart([{ name: 'step loss', x: r.step_loss.step, y: r.step_loss.loss }], {
      title: `Training loss per step${r.step_loss.every > 1 ? ` (means of ${r.step_loss.every} steps)` : ''}`, xLabel: 'step (dashed: end of an epoch)', width: 2 * W + 14, height: H,
      xMarks: r.epochs.map((e) => e.global_step),
    }),
    barChart(ep.map(String), [{ name: 'images/s', values: r.epochs.map((e) => e.images_per_s) }], { title: 'Training throughput (images/s)', width: W, height: H }),
  ];
  const perClass = best?.precision && best.recall ? [
    heatMap(best.confusion ?? [], { title: `Confusion matrix, epoch ${best.epoch}`, rows: c.classes, cols: c.classes, xLabel: 'predicted', yLabel: 'true' }),
    barChart(c.classes, [{ name: 'precision', values: best.precision }, { name: 'recall', values: best.recall }], { title: `Precision and recall, epoch ${best.epoch}`, yMin: 0, yMax: 1, width: Math.max(W, 60 + 46 * c.classes.length) }),
  ] : [];
  const epochTable = {
    id: `${anchor(run.label)}-epochs`,
    head: ['epoch', 'train loss', 'train accuracy', 'val loss', 'val accuracy', 'learning rate', 'images/s', 'seconds'],
    rows: r.epochs.map((e) => [`${e.epoch}${e.best ? ' (best)' : ''}`, fixed(e.train_loss, 4), pct(e.train_acc), fixed(e.val_loss, 4), pct(e.val_acc), e.lr.toExponential(2), e.images_per_s.toFixed(1), e.seconds.toFixed(1)]),
  };
  const classTable = best?.precision && best.recall ? {
    id: `${anchor(run.label)}-classes`,
    head: ['class', 'precision', 'recall', 'validation images'],
    rows: c.classes.map((name, i) => [name, fixed(best.precision![i], 4), fixed(best.recall![i], 4), count(best.confusion?.[i].reduce((a, b) => a + b, 0))]),
  } : null;
  return [
    `<section class="run" id="${anchor(run.label)}">`,
    `<h2>${esc(run.label)} <span class="muted">${esc(run.path)}</span></h2>`,
    `<dl class="config">${cfg.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`,
    `<div class="charts">${charts.join('')}</div>`,
    perClass.length ? `<h3>Validation, best epoch</h3><div class="charts">${perClass.join('')}</div>` : '<p class="muted">No validation set: no confusion matrix or per-class figures.</p>',
    classTable ? htmlTable(classTable) : '',
    `<h3>Epochs</h3>`,
    htmlTable(epochTable),
    `</section>`,
  ].join('\n');
}
