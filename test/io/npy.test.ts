import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy, readNpy, serializeNpy, writeNpy } from '../../src/io/npy_file.js';
import { toFloat32 } from '../../src/io/dtype.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/io/${name}`, import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'npy-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('npy reading (files written by numpy)', () => {
  const cases: Array<[string, string, number[], unknown[]]> = [
    ['f4_2x3.npy', 'F32', [2, 3], [0, 0.25, 0.5, 0.75, 1, 1.25]],
    ['f8_3.npy', 'F64', [3], [1.5, -2.25, 1e300]],
    ['i8_2x2.npy', 'I64', [2, 2], [-1n, 2n ** 40n, 0n, 7n]],
    ['i4_scalar.npy', 'I32', [], [-7]],
    ['u1_4.npy', 'U8', [4], [0, 1, 128, 255]],
    ['f2_3.npy', 'F16', [3], [0x3c00, 0x7bff, 0x0001]],
    ['f4_v2.npy', 'F32', [2], [3, -0.5]],
    ['f4_v3.npy', 'F32', [2], [3, -0.5]],
  ];
  for (const [file, dtype, shape, values] of cases) {
    it(`reads ${file}`, () => {
      const t = readNpy(fixture(file));
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual(shape);
      expect([...t.data]).toEqual(values);
    });
  }

  it('converts f16 to float32', () => {
    expect([...toFloat32(readNpy(fixture('f2_3.npy')))]).toEqual([1, 65504, 2 ** -24]);
  });
});

describe('npy writing', () => {
  it('writes the same bytes numpy does for float32', () => {
    const data = new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]);
    expect(Buffer.from(serializeNpy({ dtype: 'F32', shape: [2, 3], data })).equals(readFileSync(fixture('f4_2x3.npy')))).toBe(true);
  });

  it('round-trips through a file, atomically', () => {
    const path = join(dir, 'x.npy');
    writeNpy(path, { dtype: 'F32', shape: [3], data: new Float32Array([1, -2, 3.5]) });
    const t = readNpy(path);
    expect(t).toEqual({ dtype: 'F32', shape: [3], data: new Float32Array([1, -2, 3.5]) });
    expect(readFileSync(path).length % 64).toBe(12); // 64-byte header + 12 bytes of data
    writeNpy(path, { dtype: 'I64', shape: [1, 1], data: new BigInt64Array([5n]) });
    expect(readNpy(path).data).toEqual(new BigInt64Array([5n]));
    expect(readdirSync(dir)).toEqual(['x.npy']);
  });

  it('rejects data that does not fill the shape, and dtypes npy lacks', () => {
    const path = join(dir, 'x.npy');
    expect(() => writeNpy(path, { dtype: 'F32', shape: [4], data: new Float32Array(3) })).toThrow(`${path}: 3 elements do not fill shape (4)`);
    expect(() => writeNpy(path, { dtype: 'BF16', shape: [1], data: new Uint16Array(1) })).toThrow(`${path}: dtype BF16 has no .npy equivalent`);
    expect(() => writeNpy(join(dir, 'no', 'x.npy'), { dtype: 'F32', shape: [1], data: new Float32Array(1) })).toThrow(/no\/x\.npy: write failed: ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('npy malformed files', () => {
  const good = () => new Uint8Array(readFileSync(fixture('f4_2x3.npy')));
  const withHeader = (dict: string) => {
    const buf = good();
    const text = new TextDecoder().decode(buf.subarray(10, 128)).replace("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", dict.padEnd(60));
    buf.set(new TextEncoder().encode(text), 10);
    return buf;
  };
  const cases: Array<[string, () => Uint8Array, string]> = [
    ['bad magic', () => new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'not a .npy file (missing \\x93NUMPY magic)'],
    ['an empty file', () => new Uint8Array(0), 'not a .npy file'],
    ['an unknown version', () => good().map((b, i) => (i === 6 ? 9 : b)), 'unsupported .npy format version 9.0'],
    ['a header length past the end', () => good().subarray(0, 100), 'header length 118 is larger than the file (100 bytes)'],
    ['truncated data', () => good().subarray(0, 140), 'data is 12 bytes but shape (2, 3) of F32 needs 24'],
    ['trailing data', () => new Uint8Array([...good(), 0, 0, 0, 0]), 'data is 28 bytes but shape (2, 3) of F32 needs 24'],
    ['fortran order', () => new Uint8Array(readFileSync(fixture('fortran.npy'))), 'fortran_order True is not supported'],
    ['big-endian data', () => new Uint8Array(readFileSync(fixture('big_endian.npy'))), "unsupported dtype '>f4'"],
    ['an object dtype', () => withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }"), "unsupported dtype '|O'"],
    ['a structured dtype', () => withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"), 'cannot parse .npy header'],
    ['a bad shape', () => withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"), 'bad shape (2, x) in .npy header'],
  ];
  for (const [what, bytes, msg] of cases) {
    it(`rejects ${what} with one clear line`, () => {
      const path = join(dir, 'a.npy');
      writeFileSync(path, bytes());
      let err: Error | undefined;
      try {
        readNpy(path);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toContain(msg);
      expect(err!.message.startsWith(`${path}: `)).toBe(true);
      expect(err!.message).not.toContain('\n');
      expect(() => parseNpy(bytes(), 'buf.npy')).toThrow(/^buf\.npy: /);
    });
  }

  it('names a missing file', () => {
    expect(() => readNpy(join(dir, 'none.npy'))).toThrow(/none\.npy: cannot read: ENOENT/);
  });
});
