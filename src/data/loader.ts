// Batches a Dataset into Float32Array tensors. Items of the next `prefetch` batches are decoded while the
// consumer works on the current one (sharp runs on libuv threads), at most `concurrency` at a time.
import { availableParallelism } from 'node:os';
import type { Dataset } from './datasets.js';
import { Rng, mixSeed } from '../engine/rng.js';

export interface Batch {
  x: Float32Array; // (n, C, H, W)
  y: Int32Array; // (n)
  n: number; // items in the batch: batchSize, fewer in the last one or when items were skipped
  skipped: string[]; // items of this batch that could not be read
}

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean; // default true
  train?: boolean; // training transform (augmentation); default: same as shuffle
  seed?: number; // default 0
  dropLast?: boolean; // default false
  prefetch?: number; // batches prepared ahead of the consumer; default 2
  concurrency?: number; // items in flight; default availableParallelism() * 2
  maxBadFraction?: number; // default 0.1
  minSeen?: number; // the bad fraction is judged once this many items were seen (or at epoch end); default 32
  onWarn?: (message: string) => void; // default console.warn
}

// A FIFO limit on running tasks, so earlier batches' items start first.
class Limiter {
  private active = 0;
  private queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.active++;
        task().then(resolve, reject).finally(() => {
          this.active--;
          this.queue.shift()?.();
        });
      };
      if (this.active < this.limit) start();
      else this.queue.push(start);
    });
  }

  /** Drops tasks not yet started (their promises never settle; nobody awaits them any more). */
  cancel(): void {
    this.queue.length = 0;
  }
}

export class DataLoader {
  private readonly opts: Required<LoaderOptions>;
  private readonly warned = new Set<number>();

  constructor(readonly dataset: Dataset, opts: LoaderOptions) {
    if (!(opts.batchSize >= 1)) throw new Error(`batch size must be at least 1, got ${opts.batchSize}`);
    const shuffle = opts.shuffle ?? true;
    this.opts = {
      batchSize: opts.batchSize,
      shuffle,
      train: opts.train ?? shuffle,
      seed: opts.seed ?? 0,
      dropLast: opts.dropLast ?? false,
      prefetch: opts.prefetch ?? 2,
      concurrency: opts.concurrency ?? availableParallelism() * 2,
      maxBadFraction: opts.maxBadFraction ?? 0.1,
      minSeen: opts.minSeen ?? 32,
      onWarn: opts.onWarn ?? ((m: string) => console.warn(`warning: ${m}`)),
    };
  }

  /** Batches per epoch. */
  get length(): number {
    const { batchSize, dropLast } = this.opts;
    return (dropLast ? Math.floor : Math.ceil)(this.dataset.length / batchSize);
  }

  /** Item order of an epoch: a seeded shuffle of (seed, epoch), or 0..N-1. */
  order(epoch: number): number[] {
    const n = this.dataset.length;
    if (!this.opts.shuffle) return Array.from({ length: n }, (_, i) => i);
    return new Rng(mixSeed(this.opts.seed, epoch)).permutation(n);
  }

  /** The batches of an epoch, from batch `first` on (a resumed epoch). */
  async *epoch(epoch: number, first = 0): AsyncGenerator<Batch> {
    const { batchSize, prefetch, maxBadFraction, minSeen } = this.opts;
    const order = this.order(epoch);
    const count = this.length;
    const limiter = new Limiter(this.opts.concurrency);
    const pending: (Promise<Batch> | undefined)[] = [];
    let seen = 0;
    let bad = 0;
    try {
      for (let b = first; b < count; b++) {
        for (let k = b; k <= Math.min(b + prefetch, count - 1); k++) {
          if (pending[k]) continue;
          const next = this.load(order.slice(k * batchSize, (k + 1) * batchSize), epoch, limiter);
          next.catch(() => {}); // awaited below; a failure after the consumer left must not go unhandled
          pending[k] = next;
        }
        const batch = await pending[b]!;
        pending[b] = undefined;
        seen += batch.n + batch.skipped.length;
        bad += batch.skipped.length;
        if (bad > maxBadFraction * seen && (seen >= minSeen || b === count - 1)) {
          throw new Error(
            `${bad} of ${seen} images could not be read (more than ${maxBadFraction * 100}%); last: ${batch.skipped.at(-1)}`,
          );
        }
        yield batch;
      }
    } finally {
      limiter.cancel();
    }
  }

  private async load(items: number[], epoch: number, limiter: Limiter): Promise<Batch> {
    const ds = this.dataset;
    const size = ds.channels * ds.height * ds.width;
    const x = new Float32Array(items.length * size);
    // Each item draws from its own stream, so augmentation does not depend on completion order.
    const results = await Promise.all(
      items.map((i, k) =>
        limiter.run(async () => ds.get(i, this.opts.train, new Rng(mixSeed(this.opts.seed, epoch, i)))).then(
          (v) => {
            if (v.length !== size) throw new Error(`${ds.describe(i)}: item has ${v.length} values, expected ${size}`);
            x.set(v, k * size);
            return null;
          },
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        ),
      ),
    );
    const good = items.filter((_, k) => results[k] === null);
    const skipped: string[] = [];
    results.forEach((msg, k) => {
      if (msg === null) return;
      skipped.push(ds.describe(items[k]));
      if (!this.warned.has(items[k])) this.opts.onWarn(`skipping ${msg}`);
      this.warned.add(items[k]);
    });
    const y = Int32Array.from(good, (i) => ds.label(i));
    if (good.length === items.length) return { x, y, n: good.length, skipped };
    const kept = new Float32Array(good.length * size);
    let j = 0;
    results.forEach((msg, k) => msg === null && kept.set(x.subarray(k * size, (k + 1) * size), size * j++));
    return { x: kept, y, n: good.length, skipped };
  }
}
