// Parameters packed into a few arenas, so that clipping and the optimiser's update cover
// every parameter in a constant number of dispatches, however many tensors there are
// (PyTorch's fused/foreach Adam does it with pointers; WGSL has none, and a kernel may
// bind as few as 8 buffers). On first use the parameters move into arena buffers ("P"),
// each parameter a view of its slot; gradients move into a "G" arena laid out the same
// way (a copy, in command order, when backward made them elsewhere; then they stay views
// until zeroGrad); optimiser state ("exp_avg", ...) gets its own arenas. A kernel then runs
// once per binding window over a table of blocks, each block inside one parameter
// (src/engine/shaders/optim.ts).
//
// Layout: slots start at multiples of 64 elements (256 bytes, so that a slot can be bound
// on its own); buckets hold slots up to the binding limit (128 MiB on many adapters), so
// a bucket is one window; a parameter above the limit has a bucket of its own, covered
// in several windows. Dispatches per kernel = windows (1 for a ResNet18, 3 for a ViT-B/16).

import { Tensor } from '../engine/tensor.js';
import { gradSlots } from '../autograd/tape.js';
import { blockElems, chunkSize, type Piece } from '../engine/shaders/optim.js';

const ALIGN = 64;
const TABLES_KEPT = 8;

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

interface Slot {
  bucket: number;
  first: number;
}

interface Window {
  bucket: number;
  first: number;
  len: number;
}

interface Arena {
  buckets: Tensor[];
  slots: Tensor[];
}

interface Tables {
  block: number;
  members: Uint8Array;
  /** Per window: its blocks as (start, end) pairs, or null when it has none. */
  tables: (Tensor | null)[];
  blocks: number[];
}

/** The arena layout each parameter currently belongs to. */
const owner = new WeakMap<Tensor, FlatParams>();

export class FlatParams {
  readonly params: readonly Tensor[];
  private readonly slots: Slot[] = [];
  private readonly bucketSizes: number[] = [];
  private readonly bucketSlots: number[][] = [];
  private readonly windows: Window[] = [];
  private readonly arenas = new Map<string, Arena>();
  private tables: Tables[] = [];
  private disposed = false;

  /** Lays `params` out in windows of one binding each. Call place() to allocate and move them. */
  constructor(params: readonly Tensor[]) {
    this.params = [...params];
    const c = chunkSize();
    let open = -1; // the bucket taking small parameters
    this.params.forEach((p, i) => {
      const size = roundUp(Math.max(p.size, 1), ALIGN);
      if (size > c) {
        this.slots.push({ bucket: this.addBucket(size, i), first: 0 });
        return;
      }
      if (open < 0 || this.bucketSizes[open] + size > c) open = this.addBucket(0, -1);
      this.slots.push({ bucket: open, first: this.bucketSizes[open] });
      this.bucketSizes[open] += size;
      this.bucketSlots[open].push(i);
    });
    this.bucketSizes.forEach((size, b) => {
      for (let first = 0; first < size; first += c) this.windows.push({ bucket: b, first, len: Math.min(c, size - first) });
    });
    for (const p of this.params) owner.set(p, this);
  }

  private addBucket(size: number, param: number): number {
    this.bucketSizes.push(size);
    this.bucketSlots.push(param >= 0 ? [param] : []);
    return this.bucketSizes.length - 1;
  }

  /** The layout made for exactly `params` (same tensors, same order), if any. */
  static of(params: readonly Tensor[]): FlatParams | null {
    const f = params.length ? owner.get(params[0]) : undefined;
    if (!f || f.disposed || f.params.length !== params.length) return null;
    return f.params.every((p, i) => p === params[i]) ? f : null;
  }

  /** Binding windows: the dispatches each kernel makes over all parameters. */
  get windowCount(): number {
    return this.windows.length;
  }

  /** The arena `name` (zero-filled on first use), its buckets and one view a parameter. */
  private arena(name: string): Arena {
    let a = this.arenas.get(name);
    if (!a) {
      if (this.disposed) throw new Error('optimiser used after dispose()');
      const buckets = this.bucketSizes.map((n) => Tensor.zeros([n]).keep());
      const slots = this.params.map((p, i) => buckets[this.slots[i].bucket].viewAt(this.slots[i].first, p.shape).keep());
      this.arenas.set(name, (a = { buckets, slots }));
      if (name === 'G') slots.forEach((g, i) => gradSlots.set(this.params[i], g));
    }
    return a;
  }

  /**
   * Allocates the P and G arenas and moves the parameters in (before the first forward,
   * so that neither lands on the step's high-water mark); backward then puts each new
   * gradient straight into its slot.
   */
  place(): void {
    this.pack();
  }

  /** Parameter i's slot in the arena `name` (a view shaped as the parameter). */
  slot(name: string, i: number): Tensor {
    return this.arena(name).slots[i];
  }

  /**
   * Puts every parameter (back) into its P slot and every gradient into its G slot
   * (copies in command order, only for those not there already); returns which
   * parameters have a gradient.
   */
  pack(): Uint8Array {
    const P = this.arena('P').slots;
    const G = this.arena('G').slots;
    const active = new Uint8Array(this.params.length);
    this.params.forEach((p, i) => {
      if (!p.sameMemory(P[i])) p.moveInto(P[i]);
      const g = p.grad;
      if (!g) return;
      if (g.size !== p.size) throw new Error(`parameter ${i}: gradient of shape [${g.shape}] for shape [${p.shape}]`);
      if (!g.sameMemory(G[i])) g.moveInto(G[i]);
      active[i] = 1;
    });
    return active;
  }

  /**
   * The pieces of a kernel over the parameters in `members` (one per window that holds
   * any): its binding names mapped to arenas, blocks of the kernel's size.
   */
  pieces(members: Uint8Array, bind: Record<string, string>, kernel: 'update' | 'sum'): Piece[] {
    const t = this.tablesFor(members, blockElems(kernel));
    const out: Piece[] = [];
    this.windows.forEach((w, k) => {
      const table = t.tables[k];
      if (!table) return;
      const b = Object.fromEntries(Object.entries(bind).map(([nm, arena]) => [nm, this.arena(arena).buckets[w.bucket].bytes(w.first * 4, w.len * 4)]));
      out.push({ bind: b, table, n: 0, blocks: t.blocks[k] });
    });
    return out;
  }

  /** Block tables for `members` and a block size, kept for the next steps (the set rarely changes). */
  private tablesFor(members: Uint8Array, block: number): Tables {
    const same = (t: Tables) => t.block === block && t.members.every((m, i) => m === members[i]);
    const hit = this.tables.find(same);
    if (hit) return hit;
    const made: Tables = { block, members: members.slice(), tables: [], blocks: [] };
    for (const w of this.windows) {
      const pairs: number[] = [];
      for (const i of this.bucketSlots[w.bucket]) {
        if (!members[i]) continue;
        const s = this.slots[i].first;
        const lo = Math.max(s, w.first), hi = Math.min(s + this.params[i].size, w.first + w.len);
        for (let a = lo; a < hi; a += block) pairs.push(a - w.first, Math.min(a + block, hi) - w.first);
      }
      made.tables.push(pairs.length ? Tensor.from(Int32Array.from(pairs), [pairs.length], 'i32').keep() : null);
      made.blocks.push(pairs.length / 2);
    }
    this.tables.push(made);
    if (this.tables.length > TABLES_KEPT) disposeTables(this.tables.shift()!);
    return made;
  }

  /** Marks the parameters in `members` as changed in place (caches of derived values go stale). */
  touched(members: Uint8Array): void {
    members.forEach((m, i) => void (m && this.params[i].version++));
  }

  /** Frees the arenas this layout holds (parameters and gradients keep their own views alive). */
  dispose(): void {
    for (const a of this.arenas.values()) for (const t of [...a.slots, ...a.buckets]) t.dispose();
    this.arenas.clear();
    for (const t of this.tables) disposeTables(t);
    this.tables = [];
    this.disposed = true;
    for (const p of this.params) {
      if (owner.get(p) === this) owner.delete(p);
      if (gradSlots.get(p)?.disposed) gradSlots.delete(p);
    }
  }
}

function disposeTables(t: Tables): void {
  for (const x of t.tables) x?.dispose();
}
