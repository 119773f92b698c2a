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

const MIN_BYTES = 256;
const SPARE_CLASS = 2;

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
  private pending: GPUBuffer[] = [];
  streamOrdered = true;
  /** Bytes of every buffer this pool has created and not destroyed, and the most it has held. */
  allocatedBytes = 0;
  peakBytes = 0;

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const reused = this.free.get(size)?.pop() ?? this.larger(size)?.pop();
    if (reused) return reused.buffer;
    this.allocatedBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
    const buffer = this.device.createBuffer({ size, usage: this.usage });
    this.pooled.set(buffer, { id: this.made++, buffer, size });
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (this.streamOrdered) this.add(buffer);
    else this.pending.push(buffer);
  }

  /** Called after each submit. */
  submitted(): void {
    for (const b of this.pending) this.add(b);
    this.pending.length = 0;
  }

  /** Destroys free buffers (largest classes first) until at most `bytes` are held; returns how many. Pending commands must not use them: submit first. */
  trim(bytes: number): number {
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

  /**
   * Where a class has no free buffer, the smallest class above it, up to SPARE_CLASS x its
   * size, that has one: a little slack per buffer instead of a new buffer while others idle.
   */
  private larger(size: number): FreeList | undefined {
    // the classes above `size` in order, up to SPARE_CLASS x (a few lookups, not a walk of every class)
    for (let s = sizeClass(size + 1); s <= SPARE_CLASS * size; s = sizeClass(s + 1)) {
      const list = this.free.get(s);
      if (list?.length) return list;
    }
    return undefined;
  }

  private add(buffer: GPUBuffer): void {
    const p = this.pooled.get(buffer)!;
    let list = this.free.get(p.size);
    if (!list) this.free.set(p.size, (list = new FreeList()));
    list.push(p);
  }
}
