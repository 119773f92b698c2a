// Timing helpers for bench/: warm-up, several runs, median with min/max. Each run is timed
// two ways: with GPU timestamp queries around every compute pass it records (when the
// adapter has them: the span from the first pass's start to the last one's end, which
// leaves out host work such as encoding and readback), and with a wall clock that waits
// for all its GPU work (a synchronised wall clock).

import { sync, startGpuTimer, stopGpuTimer } from '../src/engine/runtime.js';
import { stats, type Stats } from './stats.js';

export interface Timing extends Stats {
  runs: number;
  /** Which clock median/min/max are from. */
  clock: 'gpu' | 'wall';
  wall: Stats;
  gpu: Stats | null; // null: no timestamp queries on this adapter (or too many passes in a run)
}

export interface TimeOptions {
  warmup?: number;
  runs?: number;
  /** Sample on (up to 50 samples) until this many seconds have passed. */
  minSeconds?: number;
  /** The clock of median/min/max: 'gpu' (timestamps, the wall clock where there are none) or 'wall'. */
  prefer?: 'gpu' | 'wall';
}

/**
 * Times `fn` (which records GPU work) `runs` times after `warmup` runs. With `prefer: 'gpu'`
 * every sample carries both clocks. With `prefer: 'wall'` the samples run without timestamp
 * queries (on lavapipe they slow a step of many small passes by up to a quarter), and up to
 * 5 more samples afterwards give the GPU clock.
 */
export async function time(fn: () => void | Promise<void>, { warmup = 2, runs = 7, minSeconds = 0, prefer = 'gpu' }: TimeOptions = {}): Promise<Timing> {
  for (let i = 0; i < warmup; i++) {
    await fn();
    await sync();
  }
  let timestamps = process.env.BENCH_CLOCK !== 'wall'; // BENCH_CLOCK=wall: no timestamp queries
  const sample = async (timed: boolean): Promise<[number, number | null]> => {
    const timer = timed && startGpuTimer();
    const t0 = performance.now();
    await fn();
    await sync();
    const wall = (performance.now() - t0) / 1e3;
    const t = timer ? await stopGpuTimer() : null;
    if (timed && !t) timestamps = false; // no timestamp queries here, or too many passes
    return [wall, t ? t.span : null];
  };
  const wall: number[] = [], gpu: number[] = [];
  const start = performance.now();
  while (wall.length < runs || (performance.now() - start) / 1e3 < minSeconds) {
    const [w, g] = await sample(timestamps && prefer === 'gpu');
    wall.push(w);
    if (g !== null) gpu.push(g);
    if (wall.length >= 50) break;
  }
  for (let i = 0; prefer === 'wall' && timestamps && i < Math.min(runs, 5); i++) {
    const [, g] = await sample(true);
    if (g !== null) gpu.push(g);
  }
  const g = timestamps && gpu.length ? stats(gpu) : null;
  const w = stats(wall);
  const main = prefer === 'gpu' && g ? g : w;
  return { ...main, runs: wall.length, clock: main === g ? 'gpu' : 'wall', wall: w, gpu: g };
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

/** `<unit>`, `min_<unit>`, `max_<unit>` (work per second on the timing's clock), `wall_<unit>` and `clock`. */
export function rateColumns(t: Timing, work: number, unit: string): Row {
  return { name: '', [unit]: work / t.median, [`min_${unit}`]: work / t.max, [`max_${unit}`]: work / t.min, [`wall_${unit}`]: work / t.wall.median, clock: t.clock };
}

/** `ms`, `min_ms`, `max_ms` (per one of `per` repetitions, on the timing's clock), `wall_ms` and `clock`. */
export function msColumns(t: Timing, per = 1): Row {
  const ms = (s: number) => (s * 1e3) / per;
  return { name: '', ms: ms(t.median), min_ms: ms(t.min), max_ms: ms(t.max), wall_ms: ms(t.wall.median), clock: t.clock };
}
