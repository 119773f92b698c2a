// Command encoding: kernels (a pipeline with an explicit bind-group layout) compiled
// once, bind groups cached by the buffers they bind, one compute pass for many
// dispatches, kernel params in a ring of uniform slots (a dynamic offset each, written
// once per submit), dispatch-size folding, readback, stream-ordered buffer reuse under a
// memory limit, and a GPU timer (timestamp queries around each compute pass) for bench/.

import { checkErrors, gpu } from './device.js';
import { config } from './config.js';
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
const MAX_BIND_GROUPS = 1 << 15; // cached at once; past that the cache starts afresh
const MAX_IN_FLIGHT = 2; // submits the host may run ahead of the GPU at pace()

let state: Runtime | null = null;

/** Bytes of live tensors (their own size, not their pooled buffers'), the most at once and the largest tensor made since the last resetPeaks(). */
export const memory = { live: 0, peakLive: 0, largest: 0 };

/** A compiled kernel and the bind groups made for it, by the buffers they bind. */
interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly params: boolean; // a params uniform after the storage bindings
  readonly groups: Map<number, CachedGroup>;
}

interface CachedGroup {
  readonly key: number[]; // (buffer id, offset, size) per binding
  readonly group: GPUBindGroup;
  readonly next: CachedGroup | null; // same hash
}

const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var<\s*(storage|uniform)\s*(?:,\s*(read_write|read)\s*)?>/g;

/** The bind-group layout a kernel's WGSL declares (params as a uniform with a dynamic offset). */
function layoutEntries(code: string): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const m of code.matchAll(BINDING)) {
    const type: GPUBufferBindingType = m[2] === 'uniform' ? 'uniform' : m[3] === 'read_write' ? 'storage' : 'read-only-storage';
    entries.push({ binding: Number(m[1]), visibility: GPUShaderStage.COMPUTE, buffer: { type, hasDynamicOffset: type === 'uniform' } });
  }
  entries.sort((a, b) => a.binding - b.binding);
  entries.forEach((e, i) => {
    if (e.binding !== i || (e.buffer!.type === 'uniform' && i !== entries.length - 1)) throw new Error(`kernel bindings must be 0..n-1 with the params uniform last:\n${code.slice(0, 400)}`);
  });
  return entries;
}

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

class Runtime {
  readonly device: GPUDevice;
  readonly storage: BufferPool;
  readonly kernels = new Map<string, Kernel>();
  readonly slot: number;
  readonly ring: GPUBuffer;
  readonly ringCpu: ArrayBuffer;
  private readonly ringWords: Uint32Array;
  slotsUsed = 0;
  encoder: GPUCommandEncoder | null = null;
  pass: GPUComputePassEncoder | null = null;
  private passPipeline: GPUComputePipeline | null = null;
  dispatches = 0;
  totalDispatches = 0;
  submits = 0;
  bindGroupsCached = 0;
  bindGroupsMade = 0;
  maxBinding: number;
  /** The device's maxBufferSize (read once: reading a limit calls into the WebGPU implementation). */
  readonly maxBuffer: number;
  memoryLimit = Infinity;
  timer: GpuTimer | null = null; // running
  spareTimer: GpuTimer | null = null; // its query set and buffer, kept between runs
  private staging: GPUBuffer[] = [];
  private inFlight: Promise<undefined>[] = [];
  private readonly key: number[] = [];
  private readonly dynamicOffset = [0];

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
    this.ringWords = new Uint32Array(this.ringCpu);
    this.maxBinding = g.limits.maxStorageBufferBindingSize;
    this.maxBuffer = g.limits.maxBufferSize;
  }

  kernel(code: string): Kernel {
    let k = this.kernels.get(code);
    if (!k) {
      const entries = layoutEntries(code);
      const layout = this.device.createBindGroupLayout({ entries });
      const module = this.device.createShaderModule({ code });
      const pipeline = this.device.createComputePipeline({ layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } });
      const params = entries.at(-1)?.buffer!.type === 'uniform';
      k = { pipeline, layout, params, groups: new Map() };
      this.kernels.set(code, k);
    }
    return k;
  }

  /** The bind group of `k` over `bindings` (and the params ring), made once per distinct set of buffers and ranges. */
  bindGroup(k: Kernel, bindings: Binding[]): GPUBindGroup {
    const key = this.key;
    key.length = 0;
    let h = 0x811c9dc5;
    for (let i = 0; i < bindings.length; i++) {
      const b = bindings[i];
      const offset = b.byteOffset ?? 0;
      const size = Math.max(4, b.byteLength ?? b.buffer.size - offset);
      if (size > this.maxBinding) throw new Error(`binding ${i} of a kernel is ${size} bytes, above this adapter's maxStorageBufferBindingSize (${this.maxBinding})`);
      const id = bufferId(b.buffer);
      key.push(id, offset, size);
      h = Math.imul(h ^ id, 0x01000193);
      h = Math.imul(h ^ offset, 0x01000193);
      h = Math.imul(h ^ size, 0x01000193);
    }
    const head = k.groups.get(h);
    for (let c: CachedGroup | null | undefined = head; c; c = c.next) if (sameKey(c.key, key)) return c.group;
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, offset: key[3 * i + 1], size: key[3 * i + 2] } }));
    if (k.params) entries.push({ binding: bindings.length, resource: { buffer: this.ring, offset: 0, size: PARAM_BYTES } });
    const group = this.device.createBindGroup({ layout: k.layout, entries });
    if (this.bindGroupsCached >= MAX_BIND_GROUPS) this.dropBindGroups();
    k.groups.set(h, { key: [...key], group, next: head ?? null });
    this.bindGroupsCached++;
    this.bindGroupsMade++;
    return group;
  }

  /** Forgets every cached bind group (after buffers were destroyed, or when the cache is full). */
  dropBindGroups(): void {
    for (const k of this.kernels.values()) k.groups.clear();
    this.bindGroupsCached = 0;
  }

  computePass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (!this.pass) {
      this.pass = this.encoder.beginComputePass(this.timer?.passWrites());
      this.passPipeline = null;
    }
    return this.pass;
  }

  /** Records a dispatch of `k` into the open compute pass. */
  record(k: Kernel, group: GPUBindGroup, params: ArrayLike<number> | null, x: number, y: number, z: number): void {
    const pass = this.computePass();
    if (this.passPipeline !== k.pipeline) {
      pass.setPipeline(k.pipeline);
      this.passPipeline = k.pipeline;
    }
    if (params) {
      if (params.length * 4 > PARAM_BYTES) throw new Error(`kernel params too large: ${params.length} words`);
      const off = this.slotsUsed * this.slot;
      this.ringWords.set(params, off / 4);
      this.dynamicOffset[0] = off;
      pass.setBindGroup(0, group, this.dynamicOffset);
      this.slotsUsed++;
    } else {
      pass.setBindGroup(0, group);
    }
    pass.dispatchWorkgroups(x, y, z);
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
    this.inFlight.push(this.device.queue.onSubmittedWorkDone());
    if (this.inFlight.length > 4 * MAX_IN_FLIGHT) this.inFlight.shift();
  }

  /** Ends a step: the pool plans its buffers once steps repeat (see BufferPool.mark). */
  markStep(): void {
    if (!this.storage.mark()) return;
    this.flush(); // pending commands may use the free buffers it destroys
    this.storage.adopt();
    this.dropBindGroups();
  }

  /** Waits while more than `MAX_IN_FLIGHT` submits are still running on the GPU. */
  async pace(): Promise<void> {
    while (this.inFlight.length > MAX_IN_FLIGHT) await this.inFlight.shift();
  }

  /**
   * A pooled storage buffer. `upload`: `queue.writeBuffer` will fill it now, ahead of
   * everything not yet submitted, so pending commands (which may still use the buffer
   * a free list holds) are submitted first.
   */
  acquire(bytes: number, upload = false): GPUBuffer {
    if (upload) this.flush();
    const held = this.storage.allocatedBytes;
    const b = this.storage.acquire(bytes);
    if (this.storage.allocatedBytes > held && this.storage.allocatedBytes > this.memoryLimit) this.trim(this.memoryLimit);
    return b;
  }

  release(buffer: GPUBuffer): void {
    this.storage.release(buffer);
  }

  /** Gives free buffers back to the device until the pool holds at most `bytes`. */
  trim(bytes: number): void {
    this.flush(); // pending commands may use free buffers
    if (this.storage.trim(bytes)) this.dropBindGroups();
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

function sameKey(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
  const k = rt.kernel(code);
  if (!params !== !k.params) throw new Error(`kernel ${k.params ? 'takes' : 'takes no'} params`);
  const group = rt.bindGroup(k, bindings);
  if (typeof groups === 'number') {
    if (groups === 0) return;
    if (groups <= MAX_GROUPS) rt.record(k, group, params, groups, 1, 1); // (no array for the common case)
    else rt.record(k, group, params, ...fold(groups));
  } else {
    const [x, y, z] = groups;
    if (x === 0 || y === 0 || z === 0) return;
    rt.record(k, group, params, x, y, z);
  }
  if (rt.timer?.perDispatch) {
    // profiling: a pass (hence a pair of timestamps) per dispatch
    rt.timer.labels.push(kernelLabel(code));
    rt.pass!.end();
    rt.pass = null;
  }
  rt.dispatches++;
  rt.totalDispatches++;
}

/** Call once a step: marks the step for the buffer pool's plan, and lets the GPU catch up (waits while more than two submits are still running). */
export async function pace(): Promise<void> {
  state?.markStep();
  await state?.pace();
}

/**
 * Caps the bytes of GPU memory the pool holds (live tensors and free buffers kept for
 * reuse): past it, free buffers are given back to the device. Infinity (the default) keeps them all.
 */
export function setMemoryLimit(bytes: number): void {
  const rt = runtime();
  rt.memoryLimit = bytes;
  if (rt.storage.allocatedBytes > bytes) rt.trim(bytes);
}

/** Stream-ordered reuse on (the default) or off (released buffers wait for a submit): results must not differ. */
export function setStreamReuse(on: boolean): void {
  runtime().storage.streamOrdered = on;
}

/** Gives every free pooled buffer back to the device. */
export function trimPool(): void {
  runtime().trim(0);
}

/** A binding over elements [first, first + count) of a tensor, aligned down; also the element offset inside it. */
export function bindRange(t: Binding & { size: number }, first: number, count: number): [Binding, number] {
  const align = config().offsetAlign;
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

export interface RuntimeStats {
  pipelines: number;
  dispatches: number;
  submits: number;
  /** Bind groups made so far (a cached one is reused while its buffers repeat). */
  bindGroups: number;
  /** Bytes held by live tensors, and the most since resetPeaks(). */
  liveBytes: number;
  peakLiveBytes: number;
  /** Bytes of every buffer the pool holds (live and free), and the most since resetPeaks(). */
  pooledBytes: number;
  peakPooledBytes: number;
}

/** Counters of the runtime and its memory. */
export function stats(): RuntimeStats {
  return {
    pipelines: state?.kernels.size ?? 0,
    dispatches: state?.totalDispatches ?? 0,
    submits: state?.submits ?? 0,
    bindGroups: state?.bindGroupsMade ?? 0,
    liveBytes: memory.live,
    peakLiveBytes: memory.peakLive,
    pooledBytes: state?.storage.allocatedBytes ?? 0,
    peakPooledBytes: state?.storage.peakBytes ?? 0,
  };
}

/** Starts the peak counters of stats() afresh from the current figures. */
export function resetPeaks(): void {
  memory.peakLive = memory.live;
  memory.largest = 0;
  if (state) state.storage.peakBytes = state.storage.allocatedBytes;
}
