// Command encoding: cached pipelines, one compute pass for many dispatches, a ring of
// uniform slots written once per submit, dispatch-size folding, readback, and a GPU
// timer (timestamp queries around each compute pass) for bench/.

import { checkErrors, gpu } from './device.js';
import { BufferPool } from './pool.js';

/** A storage binding: a whole buffer or a byte range of one. */
export interface Binding {
  readonly buffer: GPUBuffer;
  readonly byteOffset?: number;
  readonly byteLength?: number;
}

const MAX_DISPATCHES_PER_SUBMIT = 512;
const PARAM_BYTES = 256; // the most a kernel's params may take
const RING_SLOTS = 2048;

let state: Runtime | null = null;

class Runtime {
  readonly device: GPUDevice;
  readonly storage: BufferPool;
  readonly pipelines = new Map<string, GPUComputePipeline>();
  readonly slot: number;
  readonly ring: GPUBuffer;
  readonly ringCpu: ArrayBuffer;
  slotsUsed = 0;
  encoder: GPUCommandEncoder | null = null;
  pass: GPUComputePassEncoder | null = null;
  dispatches = 0;
  totalDispatches = 0;
  submits = 0;
  maxBinding: number;
  timer: GpuTimer | null = null; // running
  spareTimer: GpuTimer | null = null; // its query set and buffer, kept between runs
  private staging: GPUBuffer[] = [];

  constructor() {
    const g = gpu();
    this.device = g.device;
    this.storage = new BufferPool(
      this.device,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    );
    this.slot = Math.max(PARAM_BYTES, g.limits.minUniformBufferOffsetAlignment);
    this.ring = this.device.createBuffer({ size: this.slot * RING_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.ringCpu = new ArrayBuffer(this.slot * RING_SLOTS);
    this.maxBinding = g.limits.maxStorageBufferBindingSize;
  }

  pipeline(code: string): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.device.createShaderModule({ code });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(code, p);
    }
    return p;
  }

  computePass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass(this.timer?.passWrites());
    return this.pass;
  }

  commandEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  flush(): void {
    if (!this.encoder) return;
    if (this.pass) this.pass.end();
    const cb = this.encoder.finish();
    if (this.slotsUsed) this.device.queue.writeBuffer(this.ring, 0, this.ringCpu, 0, this.slotsUsed * this.slot);
    this.device.queue.submit([cb]);
    this.encoder = null;
    this.pass = null;
    this.slotsUsed = 0;
    this.dispatches = 0;
    this.submits++;
    this.storage.submitted();
  }

  acquireStaging(bytes: number): GPUBuffer {
    const i = this.staging.findIndex((b) => b.size >= bytes);
    if (i >= 0) return this.staging.splice(i, 1)[0];
    const size = Math.max(256, 2 ** Math.ceil(Math.log2(bytes)));
    return this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  releaseStaging(b: GPUBuffer): void {
    this.staging.push(b);
    if (this.staging.length > 8) this.staging.shift()!.destroy();
  }
}

export function runtime(): Runtime {
  if (!state || state.device !== gpu().device) state = new Runtime();
  return state;
}

/**
 * Records one dispatch of `code` (entry point `main`). Bindings are numbered in order,
 * then the params (u32 words; floats as `fbits(x)`) at the next binding as a uniform.
 * `groups` above 65,535 in x is folded into y; kernels use `wgIndex()` for the linear id.
 */
export function dispatch(code: string, bindings: Binding[], params: ArrayLike<number> | null, groups: number | [number, number, number]): void {
  const rt = runtime();
  if (rt.slotsUsed >= RING_SLOTS || rt.dispatches >= MAX_DISPATCHES_PER_SUBMIT) rt.flush();
  const pipeline = rt.pipeline(code);
  const entries: GPUBindGroupEntry[] = bindings.map((b, i) => {
    const offset = b.byteOffset ?? 0;
    const size = Math.max(4, b.byteLength ?? b.buffer.size - offset);
    if (size > rt.maxBinding) throw new Error(`binding ${i} of a kernel is ${size} bytes, above this adapter's maxStorageBufferBindingSize (${rt.maxBinding})`);
    return { binding: i, resource: { buffer: b.buffer, offset, size } };
  });
  if (params) {
    if (params.length * 4 > PARAM_BYTES) throw new Error(`kernel params too large: ${params.length} words`);
    const off = rt.slotsUsed * rt.slot;
    new Uint32Array(rt.ringCpu, off, params.length).set(params);
    entries.push({ binding: bindings.length, resource: { buffer: rt.ring, offset: off, size: PARAM_BYTES } });
    rt.slotsUsed++;
  }
  const bindGroup = rt.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const [x, y, z] = typeof groups === 'number' ? fold(groups) : groups;
  if (x === 0 || y === 0 || z === 0) return;
  const pass = rt.computePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, z);
  if (rt.timer?.perDispatch) {
    // profiling: a pass (hence a pair of timestamps) per dispatch
    rt.timer.labels.push(kernelLabel(code));
    pass.end();
    rt.pass = null;
  }
  rt.dispatches++;
  rt.totalDispatches++;
}

/** A binding over elements [first, first + count) of a tensor, aligned down; also the element offset inside it. */
export function bindRange(t: Binding & { size: number }, first: number, count: number): [Binding, number] {
  const align = gpu().limits.minStorageBufferOffsetAlignment;
  const byteOffset = Math.floor((first * 4) / align) * align;
  const end = Math.min(t.size * 4, (first + count) * 4);
  return [{ buffer: t.buffer, byteOffset, byteLength: end - byteOffset }, first - byteOffset / 4];
}

const MAX_GROUPS = 65535;

/** Splits n workgroups into (x, y, 1) with x, y <= 65535 and x*y >= n. */
export function fold(n: number): [number, number, number] {
  if (n <= MAX_GROUPS) return [n, 1, 1];
  const y = Math.ceil(n / MAX_GROUPS);
  const x = Math.ceil(n / y);
  if (y > MAX_GROUPS) throw new Error(`dispatch of ${n} workgroups is too large`);
  return [x, y, 1];
}

/** WGSL for the linear workgroup id of a folded dispatch. */
export const WG_INDEX = /* wgsl */ `
fn wgIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }`;

/** The bits of an f32, for params. */
export function fbits(x: number): number {
  F32[0] = x;
  return U32[0];
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

export function flush(): void {
  state?.flush();
}

/** Copies `bytes` from the start of `src` to a new CPU buffer (waits for the GPU). */
export async function readBuffer(src: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const rt = runtime();
  const staging = rt.acquireStaging(bytes);
  rt.commandEncoder().copyBufferToBuffer(src, offset, staging, 0, Math.ceil(bytes / 4) * 4);
  rt.flush();
  try {
    await staging.mapAsync(GPUMapMode.READ, 0, staging.size);
    const out = staging.getMappedRange(0, Math.ceil(bytes / 4) * 4).slice(0, bytes);
    staging.unmap();
    checkErrors();
    return out;
  } finally {
    rt.releaseStaging(staging);
  }
}

/** Waits until every submitted command has run. */
export async function sync(): Promise<void> {
  flush();
  if (state) await state.device.queue.onSubmittedWorkDone();
  checkErrors();
}

const TIMER_QUERIES = 4096; // 2 a pass

/** Timestamp queries written at the start and end of every compute pass while a timer runs. */
class GpuTimer {
  readonly querySet: GPUQuerySet;
  readonly resolved: GPUBuffer;
  used = 0;
  overflow = false;
  labels: string[] = []; // with perDispatch: each pass's (each dispatch's) kernel
  constructor(device: GPUDevice, public perDispatch: boolean) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: TIMER_QUERIES });
    this.resolved = device.createBuffer({ size: TIMER_QUERIES * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }
  passWrites(): GPUComputePassDescriptor | undefined {
    if (this.used + 2 > TIMER_QUERIES) {
      this.overflow = true;
      return undefined;
    }
    this.used += 2;
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: this.used - 2, endOfPassWriteIndex: this.used - 1 } };
  }
}

/**
 * Starts timing the compute passes recorded from now on with timestamp queries; false (and
 * no timer) when the device lacks the 'timestamp-query' feature. Work recorded before is
 * submitted first, so that it is not counted.
 */
export function startGpuTimer({ perDispatch = false } = {}): boolean {
  const rt = runtime();
  if (!gpu().features.has('timestamp-query')) return false;
  if (rt.timer) throw new Error('a GPU timer is already running');
  rt.flush();
  const spare = rt.spareTimer;
  rt.timer = spare ? Object.assign(spare, { used: 0, overflow: false, labels: [], perDispatch }) : new GpuTimer(rt.device, perDispatch);
  return true;
}

/** What a GPU timer saw: seconds from the first timed pass's start to the last one's end, the passes' own seconds summed, and their count. */
export interface GpuTime {
  span: number;
  busy: number;
  passes: number;
  /** With `perDispatch`: each dispatch's kernel (its first WGSL comment) and seconds, in order. */
  dispatches?: { kernel: string; seconds: number }[];
}

/** A kernel's name for a profile: the first line of the comment block above `@compute` in its WGSL. */
function kernelLabel(code: string): string {
  const lines = code.split('\n').map((l) => l.trim()).filter(Boolean);
  let i = lines.findIndex((l) => l.startsWith('@compute'));
  while (i > 0 && lines[i - 1].startsWith('//')) i--;
  const label = lines[i]?.startsWith('//') ? lines[i].slice(2).trim() : (lines.find((l) => l.startsWith('//'))?.slice(2).trim() ?? '(no comment)');
  return label.length > 90 ? `${label.slice(0, 87)}...` : label;
}

/** Stops the timer and reads its queries (waits for the GPU); null when more passes ran than it could record. */
export async function stopGpuTimer(): Promise<GpuTime | null> {
  const rt = runtime();
  const t = rt.timer;
  if (!t) throw new Error('no GPU timer is running');
  rt.flush();
  rt.timer = null;
  try {
    if (t.overflow) return null;
    if (t.used === 0) return { span: 0, busy: 0, passes: 0 };
    rt.commandEncoder().resolveQuerySet(t.querySet, 0, t.used, t.resolved, 0);
    const ns = new BigUint64Array(await readBuffer(t.resolved, t.used * 8));
    let busy = 0n;
    for (let i = 0; i < t.used; i += 2) busy += ns[i + 1] - ns[i];
    const out: GpuTime = { span: Number(ns[t.used - 1] - ns[0]) / 1e9, busy: Number(busy) / 1e9, passes: t.used / 2 };
    if (t.perDispatch) out.dispatches = t.labels.map((kernel, i) => ({ kernel, seconds: Number(ns[2 * i + 1] - ns[2 * i]) / 1e9 }));
    return out;
  } finally {
    rt.spareTimer = t;
  }
}

/** Pipelines compiled, dispatches and submits so far, and the bytes of GPU buffers the pool holds (live and idle). */
export function stats(): { pipelines: number; dispatches: number; submits: number; pooledBytes: number } {
  return { pipelines: state?.pipelines.size ?? 0, dispatches: state?.totalDispatches ?? 0, submits: state?.submits ?? 0, pooledBytes: state?.storage.allocatedBytes ?? 0 };
}
