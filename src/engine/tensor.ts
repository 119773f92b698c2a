// Tensors: a shape over a pooled GPU buffer (contiguous, row-major, from a byte offset:
// a parameter may be a view into an optimiser's arena), with scopes that release whatever
// a block created and did not return or keep.

import { config } from './config.js';
import { bindRange, flush, memory, readBuffer, runtime, type Binding } from './runtime.js';
import type { Node } from '../autograd/tape.js';

export type DType = 'f32' | 'i32';
export type Shape = readonly number[];

/** A pooled buffer shared by a tensor and its views (reshape). */
class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {
    memory.live += bytes;
    if (memory.live > memory.peakLive) memory.peakLive = memory.live;
    if (bytes > memory.largest) memory.largest = bytes;
  }
  release(): void {
    if (--this.refs === 0) {
      memory.live -= this.bytes;
      runtime().release(this.buffer);
    }
  }
}

const counters = { tensors: 0 };
const scopes: Set<Tensor>[] = [];

/** Elements of a shape (the product of its dims; 1 for a scalar). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether two shapes are equal dim by dim. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A 2-D size given as one number for both dims or as (h, w). */
export type Pair = number | readonly [number, number];

/** A Pair as (h, w). */
export function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

export class Tensor {
  readonly shape: Shape;
  readonly size: number;
  requiresGrad = false;
  /** Gradient accumulated by backward() (leaves only). */
  grad: Tensor | null = null;
  /** The tape node that produced this tensor, when recorded. */
  node: Node | null = null;
  /** Set for persistent tensors (parameters, optimiser state): scopes skip them. */
  kept = false;
  /**
   * Bumped whenever the contents change in place outside a kernel's output (write(),
   * an optimiser update, moveInto()): caches of values derived from a parameter (repacked
   * conv weights) key on it.
   */
  version = 0;
  private storage: Storage | null;
  private offset: number; // bytes, a multiple of minStorageBufferOffsetAlignment
  private derived: Map<string, { version: number; t: Tensor }> | null = null;

  private constructor(storage: Storage, shape: Shape, readonly dtype: DType, offset = 0) {
    this.storage = storage;
    this.offset = offset;
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]); // another tensor's shape is shared
    this.size = numel(shape);
    counters.tensors++;
    scopes.at(-1)?.add(this);
  }

  /** An uninitialised tensor; `upload`: its buffer may be written by the queue now (see BufferPool). */
  static empty(shape: Shape, dtype: DType = 'f32', upload = false): Tensor {
    // whole vec4s: kernels may bind the last partial one (masking its extra lanes)
    const bytes = Math.max(16, Math.ceil(numel(shape) / 4) * 16);
    const max = runtime().maxBuffer;
    if (bytes > max) {
      throw new Error(`a tensor of shape [${shape}] needs ${(bytes / 2 ** 30).toFixed(2)} GiB, above this adapter's largest buffer (${(max / 2 ** 30).toFixed(2)} GiB): use a smaller batch or image size`);
    }
    return new Tensor(new Storage(runtime().acquire(bytes, upload), bytes), shape, dtype);
  }

  static from(data: ArrayLike<number>, shape: Shape = [data.length], dtype: DType = data instanceof Int32Array ? 'i32' : 'f32'): Tensor {
    if (numel(shape) !== data.length) throw new Error(`Tensor.from: ${data.length} values do not fill shape [${shape}]`);
    const t = Tensor.empty(shape, dtype, true);
    const arr = dtype === 'i32' ? Int32Array.from(data) : data instanceof Float32Array ? data : Float32Array.from(data);
    if (arr.length) runtime().device.queue.writeBuffer(t.buffer, 0, arr.buffer, arr.byteOffset, arr.byteLength);
    return t;
  }

  /** A zero-filled tensor (a buffer clear: no binding-size limit). */
  static zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
    return Tensor.empty(shape, dtype).clear();
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error('tensor used after dispose()');
    return this.storage.buffer;
  }

  get byteLength(): number {
    return this.size * 4;
  }

  /** Where the elements start in `buffer` (0 but for views into an arena). */
  get byteOffset(): number {
    return this.offset;
  }

  /** A binding over bytes [start, start + length) of the elements. */
  bytes(start: number, length: number): Binding {
    return { buffer: this.buffer, byteOffset: this.offset + start, byteLength: length };
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** A tensor of another shape over the same buffer (no copy, no autograd). */
  view(shape: Shape): Tensor {
    const s = resolveShape(shape, this.size);
    const st = this.storage;
    if (!st) throw new Error('tensor used after dispose()');
    st.refs++;
    return new Tensor(st, s, this.dtype, this.offset);
  }

  /** A tensor of `shape` over elements [first, first + numel(shape)) of this one (no copy); `first` keeps bindings aligned. */
  viewAt(first: number, shape: Shape): Tensor {
    const st = this.storage;
    if (!st) throw new Error('tensor used after dispose()');
    const offset = this.offset + first * 4;
    if (!this.aligned(first) || first < 0 || first + numel(shape) > this.size) {
      throw new Error(`viewAt(${first}, [${shape}]) of a tensor of ${this.size} elements: out of range or misaligned`);
    }
    st.refs++;
    return new Tensor(st, shape, this.dtype, offset);
  }

  /** Whether a view from element `first` (viewAt) can be bound: its offset is aligned. */
  aligned(first: number): boolean {
    return (this.offset + first * 4) % config().offsetAlign === 0;
  }

  /** Whether both tensors are the same elements of the same buffer. */
  sameMemory(other: Tensor): boolean {
    return this.storage !== null && this.storage === other.storage && this.offset === other.offset && this.size === other.size;
  }

  /**
   * Copies the contents into `dst` (a view of the same size, e.g. an arena slot) in
   * command order, then makes this tensor a view of dst's memory; its old buffer is
   * released (other views of it keep the old contents).
   */
  moveInto(dst: Tensor, copied = false): void {
    if (dst.size !== this.size || dst.dtype !== this.dtype) throw new Error(`moveInto: ${dst} cannot hold ${this}`);
    if (this.sameMemory(dst)) return;
    const st = dst.storage;
    if (!st) throw new Error('moveInto: the destination was disposed');
    // copied: a kernel has already copied the contents, in command order (moveMany)
    if (this.size && !copied) runtime().commandEncoder().copyBufferToBuffer(this.buffer, this.offset, dst.buffer, dst.offset, this.byteLength);
    st.refs++;
    this.storage!.release();
    this.storage = st;
    this.offset = dst.offset;
    this.version++;
  }

  /**
   * A kept tensor derived from this one by make() (a repacked weight), made again only
   * when \`version\` changed since, and disposed with this tensor.
   */
  derive(key: string, make: (t: Tensor) => Tensor): Tensor {
    const d = (this.derived ??= new Map());
    const hit = d.get(key);
    if (hit && hit.version === this.version) return hit.t;
    hit?.t.dispose();
    const t = make(this).keep();
    d.set(key, { version: this.version, t });
    return t;
  }

  dispose(): void {
    if (!this.storage) return;
    if (this.derived) for (const { t } of this.derived.values()) t.dispose();
    this.derived = null;
    this.storage.release();
    this.storage = null;
    this.node = null;
    counters.tensors--;
    for (const s of scopes) s.delete(this);
  }

  /** Excludes this tensor from scope cleanup (it lives until disposed). */
  keep(): this {
    this.kept = true;
    for (const s of scopes) s.delete(this);
    return this;
  }

  /** Sets every element to 0, in command order. */
  clear(): this {
    if (this.size) runtime().commandEncoder().clearBuffer(this.buffer, this.offset, this.byteLength);
    this.version++;
    return this;
  }

  /** Overwrites the contents (after any recorded work that uses the old ones). */
  write(data: Float32Array | Int32Array): this {
    if (data.length !== this.size) throw new Error(`write: ${data.length} values for a tensor of shape [${this.shape}]`);
    flush();
    if (data.length) runtime().device.queue.writeBuffer(this.buffer, this.offset, data.buffer, data.byteOffset, data.byteLength);
    this.version++;
    return this;
  }

  async read(): Promise<Float32Array | Int32Array> {
    const buf = await readBuffer(this.buffer, this.byteLength, this.offset);
    return this.dtype === 'i32' ? new Int32Array(buf) : new Float32Array(buf);
  }

  async readF32(): Promise<Float32Array> {
    const a = await this.read();
    return a instanceof Float32Array ? a : Float32Array.from(a);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() on a tensor of shape [${this.shape}]`);
    return (await this.read())[0];
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(',')}])`;
  }
}

/** A binding over elements [first, first + count) of a tensor, aligned down; also the element offset inside it. */
export function bindElems(t: Tensor, first: number, count: number): [Binding, number] {
  const base = t.byteOffset / 4;
  return bindRange({ buffer: t.buffer, size: base + t.size }, base + first, count);
}

/** Replaces a single -1 in `shape` so that it holds `size` elements. */
export function resolveShape(shape: Shape, size: number): number[] {
  const s = [...shape];
  const i = s.indexOf(-1);
  if (i >= 0) {
    const rest = numel(s.filter((_, j) => j !== i));
    s[i] = rest === 0 ? 0 : size / rest;
  }
  if (numel(s) !== size || !s.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`cannot view ${size} elements as shape [${shape}]`);
  }
  return s;
}

type Kept = Tensor | Kept[] | { [k: string]: Kept } | null | undefined | number | string | boolean;

function collect(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collect(x, out);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out);
}

/**
 * Runs `fn` and disposes every tensor it created, except those it returns (in an
 * array or plain object too) and those kept; the returned ones move to the outer scope.
 */
export function tidy<T extends Kept | void>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      throw new Error('tidy() takes a synchronous function; read results after it returns');
    }
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.kept) t.dispose();
    throw e;
  }
  scopes.pop();
  const out = new Set<Tensor>();
  collect(result, out);
  for (const t of scope) if (!out.has(t) && !t.kept) t.dispose();
  const parent = scopes.at(-1);
  if (parent) for (const t of out) if (!t.disposed && !t.kept) parent.add(t);
  return result;
}

/** Disposes every tensor in a nested structure. */
export function dispose(v: unknown): void {
  const s = new Set<Tensor>();
  collect(v, s);
  for (const t of s) t.dispose();
}

/** Bytes of GPU memory held by live tensors. */
export function liveBytes(): number {
  return memory.live;
}

export function liveTensors(): number {
  return counters.tensors;
}
