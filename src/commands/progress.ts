// What training prints: notes on stderr, a progress bar on a terminal, one line (or
// one JSON object) per epoch on stdout.

/** What `train` reports of each epoch (the line it prints, the JSON object with --json, the run record's entry). */
export interface EpochRecord {
  epoch: number;
  epochs: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
  precision: Record<string, number> | null;
  recall: Record<string, number> | null;
  lr: number;
  images_per_s: number;
  seconds: number;
  skipped: number;
  /** Training steps run, each with its loss read back. */
  steps: number;
  best: boolean;
}

/** Notes go to stderr, so stdout carries only results (one JSON object per line with --json). */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Warnings, one line each, at most `max` of them and a count of the rest. */
export function warnAll(lines: string[] = [], max = 5): void {
  for (const l of lines.slice(0, max)) log(`warning: ${l}`);
  if (lines.length > max) log(`warning: ... and ${lines.length - max} more like these`);
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);
const num = (x: number | null, d = 4) => (x === null ? '-' : x.toFixed(d));

function clock(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  const two = (v: number) => String(v).padStart(2, '0');
  return h ? `${h}:${two(m % 60)}:${two(Math.floor(s % 60))}` : `${m}:${two(Math.floor(s % 60))}`;
}

/**
 * One short line per epoch; with `table`, the validation precision and recall of each
 * class as a small table under it.
 */
export function formatEpoch(r: EpochRecord, table = false): string {
  const line = [
    `epoch ${r.epoch}/${r.epochs}`,
    `train loss ${num(r.train_loss)} acc ${pct(r.train_acc)}`,
    `val loss ${num(r.val_loss)} acc ${pct(r.val_acc)}${r.best ? ' (best)' : ''}`,
    `lr ${r.lr.toExponential(1)}`,
    `${r.images_per_s.toFixed(1)} img/s`,
    `${r.seconds.toFixed(1)}s`,
    ...(r.skipped ? [`${r.skipped} unreadable images skipped`] : []),
  ].join('  ');
  if (!table || !r.precision || !r.recall) return line;
  const classes = Object.keys(r.precision);
  const w = Math.max(5, ...classes.map((c) => c.length));
  return [line, `  ${'class'.padEnd(w)}  precision  recall`, ...classes.map((c) => `  ${c.padEnd(w)}  ${num(r.precision![c]).padStart(9)}  ${num(r.recall![c]).padStart(6)}`)].join('\n');
}

/** A progress bar with ETA and images/s on a terminal; a plain line now and then otherwise; nothing with --json. */
export class Progress {
  private readonly tty: boolean;
  private readonly plain: boolean;
  private readonly t0 = performance.now();
  private last = 0;

  constructor(o: { json?: boolean }, private readonly label: string, private readonly steps: number, private readonly items: number) {
    this.tty = !o.json && !!process.stderr.isTTY;
    this.plain = !o.json && !this.tty;
  }

  /** Whether it is time for an update (at most a few per second on a terminal). */
  due(): boolean {
    const now = performance.now();
    if (now - this.last < (this.tty ? 500 : 30_000)) return false;
    this.last = now;
    return true;
  }

  update(step: number, images: number, loss: number): void {
    const s = (performance.now() - this.t0) / 1e3;
    const rate = images / s;
    const eta = (this.items - images) / rate;
    if (this.plain) process.stderr.write(`${this.label} step ${step}/${this.steps}  loss ${loss.toFixed(4)}  ${rate.toFixed(1)} img/s  ETA ${clock(eta)}\n`);
    if (!this.tty) return;
    const width = 24, fill = Math.round((width * step) / this.steps);
    process.stderr.write(`\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${step}/${this.steps}  loss ${loss.toFixed(4)}  ${rate.toFixed(1)} img/s  ETA ${clock(eta)}   `);
  }

  end(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}
