// Per-adapter choices in one table, and the one way work is split to fit a storage
// binding. The table is made from the kernel set (kernels.ts) and the device's limits,
// once per device (a new device gets a new table); tests and benchmarks override fields
// with `overrideConfig`. Kernels read their tuning here, and every kernel that binds part
// of a tensor splits its work with `splitToFit`/`fitRun` against `maxBindingBytes`.

import { gpu, type Gpu } from './device.js';
import { kernelSet, type KernelSet } from './kernels.js';

export type NormMode = 'group' | 'row';

export interface EngineConfig {
  /** Bytes one storage binding may span (the adapter's maxStorageBufferBindingSize; tests lower it to force splitting). */
  maxBindingBytes: number;
  /** Bytes a storage binding's offset is a multiple of (the adapter's minStorageBufferOffsetAlignment, or a multiple of it). */
  offsetAlign: number;
  /** Elementwise and copy kernels: elements per invocation (CPU adapters pay per invocation: runs; GPUs: one, coalesced). */
  elementsPerInvocation: number;
  /** Pooling: columns per invocation, a multiple of 4. */
  poolRun: number;
  /** Normalisation rows: one invocation a row ('row'), one workgroup a row ('group'), or 'auto' (group for rows of 64 values or more on a GPU). */
  normMode: NormMode | 'auto';
  /** Softmax family: invocations sharing a row, a power of two up to 64; 0 = from the row length. */
  rowLanes: number;
  /** Optimiser: elements per invocation of the updates and of the sum of squares, and whether a workgroup adds its sums with a barrier tree. */
  optim: { updatePer: number; sumPer: number; tree: boolean };
  /** Gradients into their arena slots by a kernel, seven a dispatch (moveMany), rather than a copy command each. */
  moveKernel: boolean;
}

/** The table for an adapter and kernel set (measured choices: bench/NOTES.md). */
function defaults(g: Gpu, set: KernelSet): EngineConfig {
  const cpu = set === 'cpu';
  return {
    maxBindingBytes: g.limits.maxStorageBufferBindingSize,
    offsetAlign: g.limits.minStorageBufferOffsetAlignment,
    elementsPerInvocation: cpu ? 16 : 1,
    poolRun: cpu ? 32 : 4,
    normMode: cpu ? 'row' : 'auto',
    rowLanes: cpu ? 1 : 0,
    // lavapipe: looping over a few elements beats more invocations, and barriers cost 5x the loads
    optim: cpu ? { updatePer: 16, sumPer: 32, tree: false } : { updatePer: 4, sumPer: 16, tree: true },
    // a GPU: a copy command costs the host more than a dispatch, and ends the compute pass;
    // lavapipe: a copy is a memcpy, where the kernel works per element (ViT-B/16's steps ~10% slower)
    moveKernel: !cpu,
  };
}

let made: { gpu: Gpu; set: KernelSet; table: EngineConfig } | null = null;
let overrides: Partial<EngineConfig> = {};

/** This device's table, with the overrides in force. */
export function config(): EngineConfig {
  const g = gpu(), set = kernelSet();
  if (!made || made.gpu !== g || made.set !== set) made = { gpu: g, set, table: { ...defaults(g, set), ...overrides } };
  return made.table;
}

/**
 * Overrides fields of the table (for tests and benchmarks) until the returned function is
 * called, which restores the fields as they were.
 */
export function overrideConfig(set: Partial<EngineConfig>): () => void {
  check(set);
  const before = overrides;
  overrides = { ...overrides, ...set };
  made = null;
  return () => {
    overrides = before;
    made = null;
  };
}

function check(c: Partial<EngineConfig>): void {
  const bad = (field: string, v: unknown, want: string) => new Error(`engine config: ${field} must be ${want}, got ${JSON.stringify(v)}`);
  if (c.maxBindingBytes !== undefined && !(Number.isInteger(c.maxBindingBytes) && c.maxBindingBytes >= 16)) throw bad('maxBindingBytes', c.maxBindingBytes, 'an integer of at least 16');
  if (c.poolRun !== undefined && !(Number.isInteger(c.poolRun) && c.poolRun >= 4 && c.poolRun % 4 === 0)) throw bad('poolRun', c.poolRun, 'a positive multiple of 4');
  if (c.rowLanes !== undefined && c.rowLanes !== 0 && !(Number.isInteger(Math.log2(c.rowLanes)) && c.rowLanes <= 64)) throw bad('rowLanes', c.rowLanes, '0 or a power of two up to 64');
  if (c.normMode !== undefined && !['row', 'group', 'auto'].includes(c.normMode)) throw bad('normMode', c.normMode, 'row, group or auto');
  const align = gpu().limits.minStorageBufferOffsetAlignment;
  if (c.offsetAlign !== undefined && !(Number.isInteger(c.offsetAlign / align) && c.offsetAlign > 0)) throw bad('offsetAlign', c.offsetAlign, `a multiple of this adapter's ${align}`);
  if (c.elementsPerInvocation !== undefined && !(Number.isInteger(c.elementsPerInvocation) && c.elementsPerInvocation >= 1)) throw bad('elementsPerInvocation', c.elementsPerInvocation, 'a positive integer');
}

/**
 * A value made once per device (e.g. a placeholder tensor a kernel binds when an operand
 * is absent): made again when the device changes.
 */
export function perDevice<T>(make: () => T): () => T {
  let owner: Gpu | null = null;
  let value: T;
  return () => {
    const g = gpu();
    if (owner !== g) {
      value = make();
      owner = g;
    }
    return value;
  };
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

export interface FitOptions {
  /** Bytes each binding needs besides `per` bytes an item (e.g. the tail of a strided run); default 0. */
  extra?: readonly number[];
  /** Runs start at item offsets whose byte offsets are aligned for every binding (default), or anywhere (the bindings are separate tensors, or align themselves). */
  aligned?: boolean;
  /** Runs are a multiple of this many items (default 1). */
  quantum?: number;
  /** Appended to the error when not even one quantum fits, e.g. what to change. */
  hint?: string;
}

/**
 * The most items of `per[i]` bytes each (per binding i) one run may hold so that every
 * binding fits `maxBindingBytes`: a multiple of `quantum`, and of the items that keep
 * the next run's offsets aligned. Throws, naming `what`, when not even one such step fits.
 */
export function fitRun(what: string, per: readonly number[], o: FitOptions = {}): number {
  const { maxBindingBytes: limit, offsetAlign: align } = config();
  let step = o.quantum ?? 1;
  if (o.aligned !== false) for (const b of per) if (b > 0) {
    const k = align / gcd(b % align, align);
    step = (step * k) / gcd(step, k);
  }
  let most = Infinity;
  per.forEach((b, i) => {
    const room = limit - (o.extra?.[i] ?? 0);
    if (b > 0) most = Math.min(most, Math.floor(room / b));
    else if (room < 0) most = 0;
  });
  const run = Math.floor(most / step) * step;
  if (!(run >= step)) {
    const need = Math.max(...per.map((b, i) => step * b + (o.extra?.[i] ?? 0)));
    throw new Error(`${what}: ${step} item${step > 1 ? 's' : ''} need${step > 1 ? '' : 's'} ${need} bytes in one binding, above this adapter's ${limit}${o.hint ? `: ${o.hint}` : ''}`);
  }
  return run;
}

/**
 * Splits `n` items into runs [start, count) that fit one binding each (see fitRun); one
 * run when the whole fits.
 */
export function splitToFit(what: string, n: number, per: readonly number[], o: FitOptions = {}): [number, number][] {
  const limit = config().maxBindingBytes;
  if (per.every((b, i) => n * b + (o.extra?.[i] ?? 0) <= limit)) return n > 0 ? [[0, n]] : [];
  const run = fitRun(what, per, o);
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += run) out.push([s, Math.min(run, n - s)]);
  return out;
}
