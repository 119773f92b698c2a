// GPU buffers recycled by size class, in stream order.
//
// Commands of one encoder run in order, so a buffer released while commands that use it
// are still being encoded can serve the very next dispatch. Only a write from the queue
// (`queue.writeBuffer`, which runs ahead of everything not yet submitted) must not land
// in such a buffer: the runtime submits pending commands before an upload.
//
// Of the free buffers of a size class, the one made first is handed out. So the buffers a
// step gets depend only on which are free when it starts, not on the order of earlier
// releases: step after step the same ones, and the same cached bind groups.
//
// Marked steps (`mark`, once a training step) are traced; once two in a row acquire and
// release alike, their buffers come from a plan of the step (plan.ts) while steps keep to it.

import { planSlots, Trace } from './plan.js';

const MIN_BYTES = 256;
const SPARE_CLASS = 2; // how much larger a free buffer may serve a request, below 1 MiB (classes are powers of two)
const SPARE_BIG = 1.25; // and above (classes are eighths)
/** Acquires traced per step at most (a program that never marks a step must not grow a trace without end). */
const MAX_TRACE = 1 << 14;

/** floor(log2(n)) for n >= 1 (clz32 below 2^31: Math.log2 and ** cost ~50 ns a call). */
const log2Floor = (n: number) => (n < 2 ** 31 ? 31 - Math.clz32(n) : Math.floor(Math.log2(n)));

/** Rounds up to a power of two below 1 MiB, to eighths of a power of two above. */
export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_BYTES, bytes);
  if (b <= 1 << 20) return 2 ** (log2Floor(b - 1) + 1);
  const step = 2 ** (log2Floor(b - 1) - 3);
  return Math.ceil(b / step) * step;
}

interface Pooled {
  readonly id: number; // creation order
  readonly buffer: GPUBuffer;
  readonly size: number; // its size class (reading GPUBuffer.size calls into Dawn)
  at: number; // its acquire's index in the current trace; -1: acquired before it, or free
  slot: number; // its slot in the plan; -1: none
}

/** A step's plan in use: a buffer per slot (made when first needed), and which are in use. */
class Plan {
  readonly slotOf: Int32Array;
  readonly capacity: number[];
  readonly buffers: (Pooled | undefined)[];
  readonly busy: Uint8Array;
  /** False once this step left the plan (then its free slots serve any acquire, best fit). */
  follows = true;
  constructor(readonly trace: Trace) {
    ({ slotOf: this.slotOf, capacity: this.capacity } = planSlots(trace));
    this.buffers = new Array(this.capacity.length);
    this.busy = new Uint8Array(this.capacity.length);
  }
}

/** A min-heap of buffers by creation order. */
class FreeList {
  private h: Pooled[] = [];
  get length(): number {
    return this.h.length;
  }
  push(p: Pooled): void {
    const h = this.h;
    let i = h.push(p) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (h[up].id <= p.id) break;
      h[i] = h[up];
      i = up;
    }
    h[i] = p;
  }
  pop(): Pooled | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        const key = (j: number) => (j === i ? last.id : h[j].id);
        if (l < h.length && key(l) < key(m)) m = l;
        if (r < h.length && key(r) < key(m)) m = r;
        if (m === i) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

export class BufferPool {
  private free = new Map<number, FreeList>();
  private pooled = new WeakMap<GPUBuffer, Pooled>();
  private made = 0;
  /** With stream-ordered reuse off: buffers released since the last submit. */
  private pending: Pooled[] = [];
  streamOrdered = true;
  /** Bytes of every buffer this pool has created and not destroyed, and the most it has held. */
  allocatedBytes = 0;
  peakBytes = 0;
  private trace = new Trace();
  private held: Pooled[] = []; // the trace's buffers, by acquire
  private last: Trace | null = null;
  private plan: Plan | null = null;
  private next: Trace | null = null; // a steady trace to plan for

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const p = this.planned(size) ?? this.free.get(size)?.pop() ?? this.larger(size)?.pop() ?? this.borrow(size) ?? this.make(size);
    if (this.trace.length < MAX_TRACE) {
      p.at = this.trace.acquired(size);
      this.held.push(p);
    }
    return p.buffer;
  }

  release(buffer: GPUBuffer): void {
    const p = this.pooled.get(buffer)!;
    if (p.at >= 0) this.trace.released(p.at);
    p.at = -1;
    if (this.streamOrdered) this.add(p);
    else this.pending.push(p);
  }

  /** Called after each submit. */
  submitted(): void {
    for (const p of this.pending) this.add(p);
    this.pending.length = 0;
  }

  /**
   * Ends a step's trace. True when the step repeated the one before and the plan in use is
   * not for it: then submit pending commands and `adopt()` (it destroys free buffers).
   */
  mark(): boolean {
    const t = this.trace;
    for (const p of this.held) p.at = -1;
    this.held.length = 0;
    this.trace = new Trace();
    const last = this.last;
    this.last = t;
    if (this.plan) this.plan.follows = true;
    if (!this.streamOrdered || t.length >= MAX_TRACE || !last?.same(t) || this.plan?.trace.same(t)) return false;
    this.next = t;
    return true;
  }

  /** Plans the steady step found by `mark()`. Free buffers of a slot's size become its buffer; other free ones are destroyed. */
  adopt(): void {
    if (!this.next) return;
    this.dissolve();
    const plan = new Plan(this.next);
    this.next = null;
    plan.capacity.forEach((size, s) => {
      const p = this.free.get(size)?.pop();
      if (p) plan.buffers[(p.slot = s)] = p;
    });
    this.trim(0);
    this.plan = plan;
  }

  /** Destroys free buffers (largest classes first) until at most `bytes` are held; returns how many. Pending commands must not use them: submit first. */
  trim(bytes: number): number {
    if (this.allocatedBytes > bytes) this.dissolve();
    let destroyed = 0;
    for (const size of [...this.free.keys()].sort((a, b) => b - a)) {
      const list = this.free.get(size)!;
      while (list.length && this.allocatedBytes > bytes) {
        const p = list.pop()!;
        p.buffer.destroy();
        this.pooled.delete(p.buffer);
        this.allocatedBytes -= size;
        destroyed++;
      }
      if (!list.length) this.free.delete(size);
    }
    return destroyed;
  }

  /** The slot planned for this acquire, if the step keeps to the plan and it is free. */
  private planned(size: number): Pooled | undefined {
    const plan = this.plan;
    if (!plan?.follows) return undefined;
    const i = this.trace.length;
    if (i >= plan.trace.length || plan.trace.sizes[i] !== size || (plan.slotOf[i] >= 0 && plan.busy[plan.slotOf[i]])) {
      plan.follows = false;
      return undefined;
    }
    const s = plan.slotOf[i];
    return s < 0 ? undefined : this.take(plan, s);
  }

  /** Off the plan: the smallest free slot that holds `size`. */
  private borrow(size: number): Pooled | undefined {
    const plan = this.plan;
    if (!plan || plan.follows) return undefined;
    let best = -1;
    for (let s = 0; s < plan.capacity.length; s++) {
      if (!plan.busy[s] && plan.capacity[s] >= size && (best < 0 || plan.capacity[s] < plan.capacity[best])) best = s;
    }
    return best < 0 ? undefined : this.take(plan, best);
  }

  /** Slot s's buffer (made on first use), now in use. */
  private take(plan: Plan, s: number): Pooled {
    plan.busy[s] = 1;
    return (plan.buffers[s] ??= this.make(plan.capacity[s], s));
  }

  private make(size: number, slot = -1): Pooled {
    this.allocatedBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
    const buffer = this.device.createBuffer({ size, usage: this.usage });
    const p: Pooled = { id: this.made++, buffer, size, at: -1, slot };
    this.pooled.set(buffer, p);
    return p;
  }

  /** Drops the plan: its free slots' buffers join the free lists, its busy ones will on release. */
  private dissolve(): void {
    const plan = this.plan;
    if (!plan) return;
    this.plan = null;
    plan.buffers.forEach((p, s) => {
      if (!p) return;
      p.slot = -1;
      if (!plan.busy[s]) this.add(p);
    });
  }

  /**
   * Where a class has no free buffer, the smallest class above it that has one, up to 2x
   * its size below 1 MiB (the next class) and 1.25x above: a little slack per buffer
   * instead of a new buffer while others idle. (A buffer that a model keeps, such as an
   * optimiser's state, taken from a class 2x its size would waste half of it for good.)
   */
  private larger(size: number): FreeList | undefined {
    // the classes above `size` in order (a few lookups, not a walk of every class)
    for (let s = sizeClass(size + 1), most = size <= 1 << 20 ? SPARE_CLASS * size : SPARE_BIG * size; s <= most; s = sizeClass(s + 1)) {
      const list = this.free.get(s);
      if (list?.length) return list;
    }
    return undefined;
  }

  private add(p: Pooled): void {
    if (p.slot >= 0) {
      this.plan!.busy[p.slot] = 0;
      return;
    }
    let list = this.free.get(p.size);
    if (!list) this.free.set(p.size, (list = new FreeList()));
    list.push(p);
  }
}
