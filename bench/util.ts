// Timing helpers for bench/: warm-up, several runs, median with min/max, all GPU work
// waited for (a synchronised wall clock).

import { sync } from '../src/engine/runtime.js';

export interface Timing {
  median: number; // seconds
  min: number;
  max: number;
  runs: number;
}

/** Times `fn` (which records GPU work) `runs` times after `warmup` runs. */
export async function time(fn: () => void | Promise<void>, { warmup = 2, runs = 7, minSeconds = 0 } = {}): Promise<Timing> {
  for (let i = 0; i < warmup; i++) {
    await fn();
    await sync();
  }
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < runs || (performance.now() - start) / 1e3 < minSeconds) {
    const t0 = performance.now();
    await fn();
    await sync();
    samples.push((performance.now() - t0) / 1e3);
    if (samples.length >= 50) break;
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples[samples.length - 1], runs: samples.length };
}

export interface Row {
  name: string;
  [k: string]: string | number | null;
}

/** Prints rows as an aligned table. */
export function table(rows: Row[]): string {
  if (!rows.length) return '';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const fmt = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c]).length)));
  const line = (cells: string[]) => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ');
  return [line(cols), ...rows.map((r) => line(cols.map((c) => fmt(r[c]))))].join('\n');
}

/** `--name value` and `--flag` arguments. */
export function parseArgs(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}
