// The runs a report covers, and the seed's three comparison tables built from their
// records (as text cells, so the HTML page and the Markdown show the same figures).

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readRunRecord, type RunEpoch, type RunRecord } from '../commands/record.js';
import { SEED_DATA, SEED_RESULTS } from './seed.js';

export interface Run {
  /** Unique among the report's runs: the model, with the folder where two runs share a model. */
  label: string;
  path: string;
  record: RunRecord;
}

export interface Table {
  id: string;
  title: string;
  note: string;
  head: string[];
  rows: string[][];
}

/** The records in the given folders (every `*.run.json`) or files, in order. */
export function loadRuns(paths: readonly string[]): Run[] {
  if (!paths.length) throw new Error('report: no run folders given');
  const files: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`${p}: not found`);
    if (!statSync(p).isDirectory()) {
      files.push(p);
      continue;
    }
    const found = readdirSync(p).filter((n) => n.endsWith('.run.json')).sort();
    if (!found.length) throw new Error(`${p}: no run record (<model>.run.json, written by train)`);
    files.push(...found.map((n) => join(p, n)));
  }
  const runs = files.map((path) => ({ path, record: readRunRecord(path), label: '' }));
  for (const r of runs) {
    const twins = runs.filter((o) => o.record.model === r.record.model).length > 1;
    r.label = twins ? `${r.record.model} (${basename(join(r.path, '..'))})` : r.record.model;
  }
  return runs;
}

/** The epoch whose weights are in the best checkpoint. */
export function bestEpoch(r: RunRecord): RunEpoch | undefined {
  return r.epochs.find((e) => e.epoch === r.best_epoch);
}

/** What data a run used, for a table row: the data set, the input size and how long it trained. */
export function dataLabel(r: RunRecord): string {
  const c = r.config;
  const name = c.data === 'fashion-mnist' || /Fashion-MNIST/.test(c.data_description) ? 'Fashion-MNIST' : basename(c.data);
  const steps = r.epochs.at(-1)?.global_step ?? 0;
  return `${name}, ${c.image_size}x${c.image_size}x${c.channels}, ${r.epochs.length} epoch${r.epochs.length === 1 ? '' : 's'} (${steps.toLocaleString('en')} steps of ${c.batch_size})`;
}

export const pct = (v: number | null | undefined): string => (v == null ? '-' : `${(100 * v).toFixed(2)}%`);
export const fixed = (v: number | null | undefined, d = 2): string => (v == null ? '-' : v.toFixed(d));
export const count = (v: number | null | undefined): string => (v == null ? '-' : v.toLocaleString('en'));
export const mb = (bytes: number | null | undefined): string => (bytes == null ? '-' : `${(bytes / 2 ** 20).toFixed(1)} MB`);

/** Which columns hold only figures (to be right-aligned). */
export function numericColumns(t: Table): boolean[] {
  return t.head.map((_, j) => t.rows.length > 0 && t.rows.every((r) => /^(-|[\d.,]+(%| MB)?)$/.test(r[j])));
}

/** The seed's three tables, our runs' rows with the seed's figures beside them where the model matches. */
export function comparisonTables(runs: readonly Run[]): Table[] {
  const seedNote = `"seed" columns: ${SEED_DATA}; "-" where the seed has no such model or class.`;
  const accuracy: Table = {
    id: 'accuracy',
    title: 'Best validation accuracy',
    note: seedNote,
    head: ['model', 'data', 'trainable parameters', 'best val accuracy', 'best epoch', 'seed: trainable parameters', 'seed: val accuracy'],
    rows: runs.map(({ label, record: r }) => {
      const s = SEED_RESULTS[r.model];
      return [label, dataLabel(r), count(r.trainable_parameters), pct(r.best_val_acc), r.best_epoch === null ? '-' : String(r.best_epoch), count(s?.trainable), pct(s?.valAcc)];
    }),
  };
  const perClass: Table = {
    id: 'per-class',
    title: 'Precision and recall per class (best epoch, validation set)',
    note: seedNote,
    head: ['model', 'class', 'precision', 'recall', 'seed: precision', 'seed: recall'],
    rows: runs.flatMap(({ label, record: r }) => {
      const e = bestEpoch(r), s = SEED_RESULTS[r.model];
      return r.config.classes.map((c, i) => [label, c, fixed(e?.precision?.[i]), fixed(e?.recall?.[i]), fixed(s?.precision[c]), fixed(s?.recall[c])]);
    }),
  };
  const size: Table = {
    id: 'size',
    title: 'Checkpoint size',
    note: 'Ours: the best checkpoint (safetensors, float32 weights and metadata, no optimiser state). Seed: its torch.save files.',
    head: ['model', 'image size', 'parameters', 'trainable parameters', 'checkpoint', 'seed: checkpoint'],
    rows: runs.map(({ label, record: r }) => {
      const s = SEED_RESULTS[r.model];
      return [label, `${r.config.image_size}x${r.config.image_size}x${r.config.channels}`, count(r.parameters), count(r.trainable_parameters), mb(r.checkpoint_bytes), s ? `${s.checkpointMb} MB` : '-'];
    }),
  };
  return [accuracy, perClass, size];
}
