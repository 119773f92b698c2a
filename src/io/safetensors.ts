// safetensors: an 8-byte little-endian u64 header length N, N bytes of JSON header, then the data.
// Header: { name: { dtype, shape, data_offsets: [begin, end] }, ..., "__metadata__": { str: str } },
// offsets relative to the data section, which the tensors must tile exactly.
// This module works on bytes (Node and the browser); safetensors_file.ts reads and writes files.
import { numel } from '../engine/tensor.js';
import { DTYPES, allocArray, bytesOf, isDtype } from './dtype.js';
import type { Dtype, TensorData, TypedArray } from './dtype.js';
import { f32ArrayToBf16, f32ArrayToF16 } from './half.js';

export * from './half.js';
export { toFloat32, toInt32 } from './dtype.js';
export type { Dtype, TensorData, TypedArray } from './dtype.js';

const MAX_HEADER = 100_000_000; // the reference implementation's limit

/** Where a tensor lives; begin and end are byte offsets into the data section. */
export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface Safetensors {
  metadata: Record<string, string>;
  tensors: Map<string, TensorData>;
}

/** A validated header; tensors are read (from disk, or from bytes in memory) one at a time, on demand. */
export interface SafetensorsFile {
  /** The file's path, or a name for bytes in memory. */
  path: string;
  metadata: Record<string, string>;
  keys(): string[];
  info(name: string): TensorInfo;
  read(name: string): TensorData;
}

/** What the writers take; F16/BF16 data may be given as a Float32Array and is then converted. */
export interface TensorInput {
  dtype: Dtype;
  shape: readonly number[];
  data: TypedArray;
}

export type TensorsInput = Record<string, TensorInput> | Map<string, TensorInput>;

export function fail(file: string, msg: string): never {
  throw new Error(`${file}: ${msg}`);
}

const q = (s: unknown) => JSON.stringify(s);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

// ---- reading ----

export function parseSafetensors(buf: Uint8Array, name = '<buffer>'): Safetensors {
  const file = openSafetensorsBytes(buf, name);
  return { metadata: file.metadata, tensors: new Map(file.keys().map((k) => [k, file.read(k)])) };
}

/** The header of bytes in memory, checked; `read(name)` copies one tensor out. */
export function openSafetensorsBytes(buf: Uint8Array, name = '<buffer>'): SafetensorsFile {
  const n = headerLength(buf, buf.length, name);
  const { metadata, infos } = parseHeader(buf.subarray(8, 8 + n), buf.length - 8 - n, name);
  return lazyFile(name, metadata, infos, (t, into) => into.set(buf.subarray(8 + n + t.begin, 8 + n + t.end)));
}

/** A SafetensorsFile over a checked header; `fill` copies a tensor's bytes into a fresh, aligned array. */
export function lazyFile(path: string, metadata: Record<string, string>, infos: Map<string, TensorInfo>, fill: (t: TensorInfo, into: Uint8Array) => void): SafetensorsFile {
  const info = (name: string): TensorInfo => {
    const t = infos.get(name);
    if (!t) fail(path, `no tensor named ${q(name)}`);
    return { ...t, shape: [...t.shape] };
  };
  const read = (name: string): TensorData => {
    const t = info(name);
    // A fresh array: the source offset need not be aligned for the element type.
    const data = allocArray(t.dtype, numel(t.shape));
    fill(t, bytesOf(data));
    return { dtype: t.dtype, shape: t.shape, data };
  };
  return { path, metadata, keys: () => [...infos.keys()], info, read };
}

export function headerLength(prefix: Uint8Array, size: number, file: string): number {
  if (size < 8) fail(file, `file is ${size} bytes, too short for the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(file, `header length ${n} exceeds the 100 MB limit`);
  if (n > BigInt(size - 8)) fail(file, `header length ${n} is larger than the ${size - 8} bytes after the length prefix`);
  return Number(n);
}

export function parseHeader(bytes: Uint8Array, dataSize: number, file: string) {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    fail(file, `header is not valid UTF-8 JSON (${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)})`);
  }
  if (!isObject(json)) fail(file, 'header JSON is not an object');
  let metadata: Record<string, string> = {};
  const infos = new Map<string, TensorInfo>();
  for (const [key, v] of Object.entries(json)) {
    if (key === '__metadata__') metadata = checkMetadata(v, file);
    else infos.set(key, checkEntry(key, v, dataSize, file));
  }
  checkTiling(infos, dataSize, file);
  return { metadata, infos };
}

function checkMetadata(v: unknown, file: string): Record<string, string> {
  if (!isObject(v)) fail(file, '__metadata__ is not an object');
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') fail(file, `__metadata__ value for ${q(k)} is ${q(s)}, not a string`);
  }
  return v as Record<string, string>;
}

function checkEntry(key: string, v: unknown, dataSize: number, file: string): TensorInfo {
  const t = `tensor ${q(key)}`;
  if (!isObject(v)) fail(file, `${t} entry is not an object`);
  const { dtype, shape, data_offsets: offs } = v;
  if (!isDtype(dtype)) fail(file, `${t} has unknown dtype ${q(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isSize)) fail(file, `${t} shape ${q(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isSize) || offs[0] > offs[1]) {
    fail(file, `${t} data_offsets ${q(offs)} are not [begin, end] integers with begin <= end`);
  }
  const [begin, end] = offs as number[];
  if (end > dataSize) fail(file, `${t} data_offsets [${begin}, ${end}] out of range (data section is ${dataSize} bytes)`);
  const need = numel(shape) * DTYPES[dtype].size;
  if (end - begin !== need) {
    fail(file, `${t} data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape [${shape.join(', ')}] needs ${need}`);
  }
  return { dtype, shape, begin, end };
}

/** The tensors must cover the data section exactly: no overlap, no hole, nothing left over. */
function checkTiling(infos: Map<string, TensorInfo>, dataSize: number, file: string): void {
  const spans = [...infos].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = '';
  for (const [key, t] of spans) {
    if (t.begin < pos) fail(file, `tensor ${q(key)} data_offsets [${t.begin}, ${t.end}] overlap tensor ${q(prev)}, which ends at ${pos}`);
    if (t.begin > pos) fail(file, `hole in data section: bytes [${pos}, ${t.begin}) belong to no tensor`);
    pos = t.end;
    prev = key;
  }
  if (pos !== dataSize) fail(file, `hole in data section: bytes [${pos}, ${dataSize}) after the last tensor belong to no tensor`);
}

// ---- writing ----

export interface Planned {
  header: Uint8Array;
  order: Array<[string, TensorInput]>;
  size: number; // header prefix + header + data
}

/**
 * Checks the inputs and lays them out. NOTE: like the reference writer, tensors are stored
 * largest element size first, then by name, so each starts aligned to its element size
 * (the data section starts 8-aligned since the header is space-padded to a multiple of 8).
 */
export function plan(tensors: TensorsInput, metadata: Record<string, string> | undefined, file: string): Planned {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [key, t] of entries) checkInput(key, t, file);
  const order = entries.sort(([ka, a], [kb, b]) => DTYPES[b.dtype].size - DTYPES[a.dtype].size || (ka < kb ? -1 : ka > kb ? 1 : 0));
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${q(checkMetadata(metadata, file))}`);
  let offset = 0;
  for (const [key, t] of order) {
    const end = offset + numel(t.shape) * DTYPES[t.dtype].size;
    parts.push(`${q(key)}:${q({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const header = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(header.length - 8), true);
  header.set(json, 8);
  return { header, order, size: header.length + offset };
}

function checkInput(key: string, t: TensorInput, file: string): void {
  const name = `tensor ${q(key)}`;
  if (key === '__metadata__') fail(file, 'a tensor cannot be named "__metadata__"');
  if (!isDtype(t.dtype)) fail(file, `${name} has unknown dtype ${q(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every(isSize)) fail(file, `${name} shape ${q(t.shape)} is not a list of non-negative integers`);
  const want = DTYPES[t.dtype].array;
  const halfFromF32 = (t.dtype === 'F16' || t.dtype === 'BF16') && t.data instanceof Float32Array;
  if (!(t.data instanceof want) && !halfFromF32) {
    fail(file, `${name} data is a ${t.data?.constructor?.name} but dtype ${t.dtype} needs a ${want.name}`);
  }
  if (t.data.length !== numel(t.shape)) {
    fail(file, `${name} has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`);
  }
}

export function encode(t: TensorInput): Uint8Array {
  if (t.data instanceof Float32Array && t.dtype === 'F16') return bytesOf(f32ArrayToF16(t.data));
  if (t.data instanceof Float32Array && t.dtype === 'BF16') return bytesOf(f32ArrayToBf16(t.data));
  return bytesOf(t.data);
}

export function serializeSafetensors(tensors: TensorsInput, metadata?: Record<string, string>): Uint8Array {
  const { header, order, size } = plan(tensors, metadata, '<buffer>');
  const out = new Uint8Array(size);
  out.set(header, 0);
  let pos = header.length;
  for (const [, t] of order) {
    const bytes = encode(t);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}
