// GPU buffers recycled by size class, in stream order.
//
// Commands of one encoder run in order, so a buffer released while commands that use it
// are still being encoded can serve the very next dispatch. Only a write from the queue
// (`queue.writeBuffer`, which runs ahead of everything not yet submitted) must not land
// in such a buffer: `reuse(bytes, true)` takes only buffers that no pending command
// uses ("clean" ones); the caller may submit first to make them all clean. The pool
// gives free buffers back to the device under a limit.

const MIN_BYTES = 256;

/** Rounds up to a power of two below 1 MiB, to eighths of a power of two above. */
export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_BYTES, bytes);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** (Math.floor(Math.log2(b - 1)) - 3);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** The submit serial a free buffer was released in, or -1 when no pending command can use it. */
  private dirtyAt = new WeakMap<GPUBuffer, number>();
  private serial = 0;
  /** Bytes of every buffer this pool has created and not destroyed, and the most it has held. */
  allocatedBytes = 0;
  peakBytes = 0;

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
  ) {}

  /** A free buffer of `bytes`' size class, or null; with `clean`, only one that no pending command uses. */
  reuse(bytes: number, clean: boolean): GPUBuffer | null {
    const list = this.free.get(sizeClass(bytes));
    if (!list?.length) return null;
    if (!clean) return this.take(list, list.length - 1);
    for (let i = list.length - 1; i >= 0; i--) if (!this.isDirty(list[i])) return this.take(list, i);
    return null;
  }

  /** Whether the size class holds free buffers that pending commands may use. */
  hasDirty(bytes: number): boolean {
    return !!this.free.get(sizeClass(bytes))?.some((b) => this.isDirty(b));
  }

  create(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    this.allocatedBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
    return this.device.createBuffer({ size, usage: this.usage });
  }

  /** `pending`: commands that may use the buffer are still being encoded (not submitted). */
  release(buffer: GPUBuffer, pending: boolean): void {
    this.dirtyAt.set(buffer, pending ? this.serial : -1);
    let list = this.free.get(buffer.size);
    if (!list) this.free.set(buffer.size, (list = []));
    list.push(buffer);
  }

  /** Called after each submit: every buffer released before it is clean. */
  submitted(): void {
    this.serial++;
  }

  /** Free buffers' bytes. */
  get idleBytes(): number {
    let n = 0;
    for (const [size, list] of this.free) n += size * list.length;
    return n;
  }

  /** Destroys clean free buffers (oldest first, largest classes first) until at most `bytes` are held; returns how many. */
  trim(bytes: number): number {
    let destroyed = 0;
    const sizes = [...this.free.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.free.get(size)!;
      for (let i = 0; i < list.length && this.allocatedBytes > bytes; ) {
        if (this.isDirty(list[i])) i++;
        else {
          this.take(list, i).destroy();
          this.allocatedBytes -= size;
          destroyed++;
        }
      }
      if (!list.length) this.free.delete(size);
    }
    return destroyed;
  }

  private isDirty(b: GPUBuffer): boolean {
    return this.dirtyAt.get(b)! >= this.serial;
  }

  private take(list: GPUBuffer[], i: number): GPUBuffer {
    return i === list.length - 1 ? list.pop()! : list.splice(i, 1)[0];
  }
}
