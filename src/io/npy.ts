// NumPy .npy: magic "\x93NUMPY", version, header length (u16 in v1, u32 in v2/v3), a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded to 64 bytes, then data.
// This module works on bytes (Node and the browser); npy_file.ts reads and writes files.
import { numel } from '../engine/tensor.js';
import { DTYPES, allocArray, bytesOf } from './dtype.js';
import type { Dtype, TensorData } from './dtype.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

// Little-endian only; one-byte types have no byte order and numpy writes them with '|'.
const DESCR: Record<string, Dtype> = {
  '<f8': 'F64', '<f4': 'F32', '<f2': 'F16',
  '<i8': 'I64', '<i4': 'I32', '<i2': 'I16', '|i1': 'I8', '<i1': 'I8',
  '<u8': 'U64', '<u4': 'U32', '<u2': 'U16', '|u1': 'U8', '<u1': 'U8', '|b1': 'BOOL',
};
const DESCR_OF: Partial<Record<Dtype, string>> = {
  F64: '<f8', F32: '<f4', F16: '<f2', I64: '<i8', I32: '<i4', I16: '<i2', I8: '|i1',
  U64: '<u8', U32: '<u4', U16: '<u2', U8: '|u1', BOOL: '|b1',
};

export function fail(file: string, msg: string): never {
  throw new Error(`${file}: ${msg}`);
}

export function parseNpy(buf: Uint8Array, name = '<buffer>'): TensorData {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) fail(name, 'not a .npy file (missing \\x93NUMPY magic)');
  const major = buf[6];
  if (major < 1 || major > 3) fail(name, `unsupported .npy format version ${major}.${buf[7]}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + lenBytes) fail(name, `file is ${buf.length} bytes, too short for a v${major} header length`);
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes + hlen;
  if (start > buf.length) fail(name, `header length ${hlen} is larger than the file (${buf.length} bytes)`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(8 + lenBytes, start));
  const { dtype, shape } = parseHeader(text, name);

  const need = numel(shape) * DTYPES[dtype].size;
  const have = buf.length - start;
  if (have !== need) fail(name, `data is ${have} bytes but shape (${shape.join(', ')}) of ${dtype} needs ${need}`);
  const data = allocArray(dtype, numel(shape)); // a fresh array, so aligned whatever the header length
  bytesOf(data).set(buf.subarray(start));
  return { dtype, shape, data };
}

function parseHeader(text: string, file: string): { dtype: Dtype; shape: number[] } {
  const header = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(file, `cannot parse .npy header ${header}`);
  const dtype = DESCR[descr];
  if (!dtype) fail(file, `unsupported dtype '${descr}' (supported: ${Object.keys(DESCR).join(' ')})`);
  if (fortran === 'True') fail(file, 'fortran_order True is not supported (save a C-contiguous array)');
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!dims.every((d) => /^\d+$/.test(d))) fail(file, `bad shape (${shapeText}) in .npy header`);
  return { dtype, shape: dims.map(Number) };
}

/** A version 1.0 .npy header, padded so the data starts 64-byte aligned, as numpy writes it. */
export function npyHeader(t: TensorData, name: string): Uint8Array {
  const descr = DESCR_OF[t.dtype];
  if (!descr) fail(name, `dtype ${t.dtype} has no .npy equivalent`);
  if (t.data.length !== numel(t.shape)) fail(name, `${t.data.length} elements do not fill shape (${t.shape.join(', ')})`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const hlen = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const header = new Uint8Array(10 + hlen).fill(0x20);
  header.set(MAGIC, 0);
  header[6] = 1;
  header[7] = 0;
  new DataView(header.buffer).setUint16(8, hlen, true);
  for (let i = 0; i < dict.length; i++) header[10 + i] = dict.charCodeAt(i); // ASCII
  header[header.length - 1] = 0x0a;
  return header;
}

export function serializeNpy(t: TensorData): Uint8Array {
  const header = npyHeader(t, '<buffer>');
  const out = new Uint8Array(header.length + t.data.byteLength);
  out.set(header);
  out.set(bytesOf(t.data), header.length);
  return out;
}
