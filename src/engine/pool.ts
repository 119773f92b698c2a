// GPU buffers recycled by size class.
//
// A released buffer may still be read or written by commands that are encoded but
// not yet submitted; `queue.writeBuffer` on its next owner would then run ahead of
// them. So released buffers wait in `pending` and become reusable only at submit.

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
  private pending: GPUBuffer[] = [];
  /** Bytes of every buffer this pool has created and not destroyed. */
  allocatedBytes = 0;

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    if (list && list.length) return list.pop()!;
    this.allocatedBytes += size;
    return this.device.createBuffer({ size, usage: this.usage });
  }

  release(buffer: GPUBuffer): void {
    this.pending.push(buffer);
  }

  /** Called after each submit: buffers released before it can be reused. */
  submitted(): void {
    for (const b of this.pending) {
      let list = this.free.get(b.size);
      if (!list) this.free.set(b.size, (list = []));
      list.push(b);
    }
    this.pending.length = 0;
  }
}
