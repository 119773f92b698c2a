// The element types the readers and writers share, named as safetensors names them.
import { bf16ArrayToF32, f16ArrayToF32 } from './half.js';

export type TypedArray =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | BigUint64Array
  | Int32Array | Uint32Array | Int16Array | Int8Array | Uint8Array;

type ArrayCtor = {
  new (length: number): TypedArray;
  new (buf: ArrayBuffer, offset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

// NOTE: F16 and BF16 data are held as raw uint16 bit patterns; BOOL as one byte per element (0 or 1).
const ARRAYS = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array, U64: BigUint64Array, I32: Int32Array,
  U32: Uint32Array, I16: Int16Array, U16: Uint16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array,
} satisfies Record<string, ArrayCtor>;

export type Dtype = keyof typeof ARRAYS;

/** Each dtype's typed array and element size in bytes. */
export const DTYPES = Object.fromEntries(
  Object.entries(ARRAYS as Record<Dtype, ArrayCtor>).map(([d, array]) => [d, { size: array.BYTES_PER_ELEMENT, array }]),
) as Record<Dtype, { size: number; array: ArrayCtor }>;

export interface TensorData {
  dtype: Dtype;
  shape: number[];
  data: TypedArray;
}

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

/** A zeroed typed array for `n` elements of `dtype`, on its own (so aligned) ArrayBuffer. */
export function allocArray(dtype: Dtype, n: number): TypedArray {
  return new DTYPES[dtype].array(n);
}

/** The bytes of a typed array, without copying. */
export function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Any dtype as float32: F32 data is returned as is, others are converted (integers and bools by value). */
export function toFloat32(t: TensorData): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  if (t.dtype === 'F16') return f16ArrayToF32(t.data as Uint16Array);
  if (t.dtype === 'BF16') return bf16ArrayToF32(t.data as Uint16Array);
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** An integer or bool dtype as int32; throws if a value does not fit (e.g. a huge I64). */
export function toInt32(t: TensorData): Int32Array {
  if (t.dtype === 'I32') return t.data as Int32Array;
  if (t.dtype === 'F64' || t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') {
    throw new Error(`toInt32: dtype ${t.dtype} is not an integer type`);
  }
  const out = new Int32Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number(t.data[i]);
    if (v !== (v | 0)) throw new Error(`toInt32: ${t.dtype} value ${t.data[i]} at index ${i} does not fit in int32`);
    out[i] = v;
  }
  return out;
}
