import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  openSafetensors, parseSafetensors, readSafetensors, serializeSafetensors, toFloat32, toInt32, writeSafetensors,
} from '../../src/io/safetensors_file.js';
import type { TensorInput } from '../../src/io/safetensors.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/io/mixed.safetensors', import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file from a header (object, JSON text or raw bytes) and data, the header space-padded to 8. */
function build(header: object | string | Uint8Array, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const raw = header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const h = new Uint8Array(Math.ceil(raw.length / 8) * 8).fill(0x20);
  h.set(raw);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('safetensors reading', () => {
  it('reads a file laid out byte by byte from the spec', () => {
    // {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}
    const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}';
    const bytes: number[] = [json.length, 0, 0, 0, 0, 0, 0, 0]; // u64 little-endian
    for (const c of json) bytes.push(c.charCodeAt(0));
    bytes.push(0x00, 0x00, 0x80, 0x3f); // 1.0f
    bytes.push(0x00, 0x00, 0x20, 0xc1); // -10.0f
    const st = parseSafetensors(new Uint8Array(bytes), 'spec.safetensors');
    expect(st.metadata).toEqual({ k: 'v' });
    const w = st.tensors.get('w')!;
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([2]);
    expect([...w.data]).toEqual([1, -10]);
  });

  it('reads the Python-made fixture (F16, BF16, F32, I64 and metadata)', () => {
    const st = readSafetensors(FIXTURE);
    expect(st.metadata).toEqual({ format: 'pt', note: 'hand-made' });
    expect([...st.tensors.keys()].sort()).toEqual(['a.w', 'b.ids', 'c.bf', 'd.half']);
    const half = st.tensors.get('d.half')!;
    expect(half.dtype).toBe('F16');
    expect([...half.data]).toEqual([0x3c00, 0xc000, 0x7bff, 0x0001]);
    expect([...toFloat32(half)]).toEqual([1, -2, 65504, 2 ** -24]);
    const bf = st.tensors.get('c.bf')!;
    expect([...bf.data]).toEqual([0x3f80, 0xc060, 0x0001]);
    expect([...toFloat32(bf)]).toEqual([1, -3.5, 2 ** -133]);
    const w = st.tensors.get('a.w')!;
    expect(w.shape).toEqual([2, 2]);
    expect(w.data).toBeInstanceOf(Float32Array);
    expect([...w.data]).toEqual([0.5, 2, -1, 3]);
    const ids = st.tensors.get('b.ids')!;
    expect(ids.data).toBeInstanceOf(BigInt64Array);
    expect([...ids.data]).toEqual([-5n, 2n ** 40n]);
    expect([...toFloat32(ids)]).toEqual([-5, 2 ** 40]);
    expect(() => toInt32(ids)).toThrow(/does not fit in int32/);
    expect([...toInt32({ ...ids, data: new BigInt64Array([-5n, 7n]) })]).toEqual([-5, 7]);
  });

  it('opens lazily: header only, then one tensor at a time', () => {
    const f = openSafetensors(FIXTURE);
    expect(f.keys()).toEqual(['b.ids', 'a.w', 'c.bf', 'd.half']);
    expect(f.info('c.bf')).toEqual({ dtype: 'BF16', shape: [3], begin: 32, end: 38 });
    expect([...f.read('a.w').data]).toEqual([0.5, 2, -1, 3]);
    expect(() => f.read('nope')).toThrow(`${FIXTURE}: no tensor named "nope"`);
    // Truncating the file after opening is reported on read, not as garbage.
    const copy = join(dir, 'copy.safetensors');
    const bytes = readFileSync(FIXTURE);
    writeFileSync(copy, bytes);
    const g = openSafetensors(copy);
    writeFileSync(copy, bytes.subarray(0, bytes.length - 4));
    expect(() => g.read('d.half')).toThrow(/copy\.safetensors: file truncated/);
  });

  it('copies tensors that sit at unaligned offsets', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat32(4, 7.5, true);
    new DataView(data.buffer).setFloat32(8, -1.25, true);
    const file = build({
      u: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
      p: { dtype: 'U8', shape: [1], data_offsets: [3, 4] },
      f: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, data);
    const shifted = new Uint8Array(file.length + 1).subarray(1); // byteOffset 1
    shifted.set(file);
    expect([...parseSafetensors(shifted).tensors.get('f')!.data]).toEqual([7.5, -1.25]);
  });

  it('accepts zero-element tensors and an empty file body', () => {
    const st = parseSafetensors(build({ e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } }));
    expect(st.tensors.get('e')!.shape).toEqual([0, 3]);
    expect(st.tensors.get('e')!.data.length).toBe(0);
    expect(parseSafetensors(build({})).tensors.size).toBe(0);
  });
});

describe('safetensors writing', () => {
  const sample = (): Record<string, TensorInput> => ({
    'fc.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, -4, 5.5, 1e-8]) },
    'fc.bias': { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -0]) },
    'bn.num_batches_tracked': { dtype: 'I64', shape: [], data: new BigInt64Array([123n]) },
    idx: { dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
    small: { dtype: 'I16', shape: [2], data: new Int16Array([-300, 300]) },
    bytes: { dtype: 'U8', shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
    signed: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    mask: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    half: { dtype: 'F16', shape: [3], data: new Float32Array([1, -0.5, 65504]) },
    brain: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc060]) },
  });

  it('round-trips several dtypes and metadata through a file', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, sample(), { format: 'pt', epoch: '3' });
    const st = readSafetensors(path);
    expect(st.metadata).toEqual({ format: 'pt', epoch: '3' });
    for (const [key, t] of Object.entries(sample())) {
      const got = st.tensors.get(key)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      const want = t.dtype === 'F16' ? [0x3c00, 0xb800, 0x7bff] : [...t.data];
      expect([...got.data]).toEqual(want);
    }
    expect(Object.is(st.tensors.get('fc.bias')!.data[1], -0)).toBe(true);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    // The in-memory writer makes the same bytes, and parsing them gives the same tensors.
    const buf = Buffer.from(serializeSafetensors(sample(), { format: 'pt', epoch: '3' }));
    expect(buf.equals(readFileSync(path))).toBe(true);
    expect(parseSafetensors(buf).tensors.get('fc.weight')!.data).toEqual(sample()['fc.weight'].data);
  });

  it('pads the header to 8 bytes and aligns every tensor to its element size', () => {
    const buf = Buffer.from(serializeSafetensors(sample()));
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    for (const [key, t] of Object.entries(sample())) {
      const size = { F64: 8, I64: 8, F32: 4, I32: 4, I16: 2, F16: 2, BF16: 2 }[t.dtype as string] ?? 1;
      expect(header[key].data_offsets[0] % size).toBe(0);
    }
    expect(header.__metadata__).toBeUndefined();
  });

  it('writes the same bytes as the Python-made fixture', () => {
    const st = readSafetensors(FIXTURE);
    const buf = Buffer.from(serializeSafetensors(st.tensors, st.metadata));
    expect(buf.equals(readFileSync(FIXTURE))).toBe(true);
  });

  it('rejects bad inputs with a clear error before touching the disk', () => {
    const path = join(dir, 'bad.safetensors');
    const bad: Array<[Record<string, TensorInput>, RegExp]> = [
      [{ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }, /tensor "x" has 2 elements but shape \[3\] needs 3/],
      [{ x: { dtype: 'I64', shape: [2], data: new Float32Array(2) } }, /tensor "x" data is a Float32Array but dtype I64 needs a BigInt64Array/],
      [{ x: { dtype: 'Q4' as 'F32', shape: [1], data: new Float32Array(1) } }, /tensor "x" has unknown dtype "Q4"/],
      [{ x: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } }, /tensor "x" shape \[-1\] is not a list of non-negative integers/],
      [{ __metadata__: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }, /cannot be named "__metadata__"/],
    ];
    for (const [tensors, msg] of bad) {
      expect(() => writeSafetensors(path, tensors)).toThrow(msg);
      expect(() => writeSafetensors(path, tensors)).toThrow(`${path}: `);
    }
    expect(() => writeSafetensors(path, {}, { n: 3 as unknown as string })).toThrow(/__metadata__ value for "n" is 3, not a string/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('safetensors atomic write', () => {
  const t = { w: { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) } };

  it('fails cleanly into a missing directory', () => {
    const path = join(dir, 'missing', 'model.safetensors');
    expect(() => writeSafetensors(path, t)).toThrow(new RegExp(`^${path}: write failed: ENOENT`));
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('leaves no temp file when the rename fails (target is a directory)', () => {
    const path = join(dir, 'model.safetensors');
    mkdirSync(path);
    expect(() => writeSafetensors(path, t)).toThrow(new RegExp(`^${path}: write failed: E`));
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    expect(readdirSync(path)).toEqual([]);
  });

  it('keeps an existing target intact when the write fails', () => {
    const sub = join(dir, 'ro');
    mkdirSync(sub);
    const path = join(sub, 'model.safetensors');
    writeSafetensors(path, t);
    const before = readFileSync(path);
    chmodSync(sub, 0o500);
    try {
      // A read-only directory gives EACCES, except to root; so the data also fails mid-write,
      // after the checks and the header (the 4th read of .data is in the write loop).
      let reads = 0;
      const w = { dtype: 'F16' as const, shape: [1], get data() {
        if (++reads > 3) throw new Error('EIO: simulated');
        return new Float32Array(1);
      } };
      expect(() => writeSafetensors(path, { w, x: t.w })).toThrow(new RegExp(`^${path}: write failed: E`));
    } finally {
      chmodSync(sub, 0o700);
    }
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
  });

  it('overwrites an existing target with the new file', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, t);
    writeSafetensors(path, { v: { dtype: 'I32', shape: [1], data: new Int32Array([9]) } });
    expect([...readSafetensors(path).tensors.keys()]).toEqual(['v']);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });
});

describe('safetensors malformed files', () => {
  const f32x2 = new Uint8Array(8);
  const entry = (dtype: string, shape: number[], offs: number[]) => ({ dtype, shape, data_offsets: offs });
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
  const longer = build({ a: entry('F32', [2], [0, 8]) }, f32x2).slice(); // header length patched below
  new DataView(longer.buffer).setBigUint64(0, 10_000n, true);

  const cases: Array<[string, Uint8Array, string]> = [
    ['an empty file', new Uint8Array(0), 'file is 0 bytes, too short for the 8-byte header length'],
    ['a file shorter than the length prefix', new Uint8Array(5), 'file is 5 bytes, too short for the 8-byte header length'],
    ['a header length past the end of the file', longer, 'header length 10000 is larger than the'],
    ['a header over 100 MB', huge, 'header length 200000000 exceeds the 100 MB limit'],
    ['invalid JSON', build('{"a": {"dtype": '), 'header is not valid UTF-8 JSON ('],
    ['invalid UTF-8', build(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), 'header is not valid UTF-8 JSON'],
    ['a JSON array header', build('[1, 2]'), 'header JSON is not an object'],
    ['a truncated file (data cut short)', build({ a: entry('F32', [2], [0, 8]) }, f32x2).subarray(0, -3), 'tensor "a" data_offsets [0, 8] out of range (data section is 5 bytes)'],
    ['offsets out of range', build({ 'fc.weight': entry('F32', [24], [0, 96]) }, new Uint8Array(64)), 'tensor "fc.weight" data_offsets [0, 96] out of range (data section is 64 bytes)'],
    ['overlapping offsets', build({ a: entry('F32', [2], [0, 8]), b: entry('F32', [1], [4, 8]) }, f32x2), 'tensor "b" data_offsets [4, 8] overlap tensor "a", which ends at 8'],
    ['a hole between tensors', build({ a: entry('F32', [1], [0, 4]), b: entry('U8', [2], [6, 8]) }, f32x2), 'hole in data section: bytes [4, 6) belong to no tensor'],
    ['trailing bytes', build({ a: entry('F32', [1], [0, 4]) }, f32x2), 'hole in data section: bytes [4, 8) after the last tensor belong to no tensor'],
    ['data with no tensors', build({}, f32x2), 'hole in data section: bytes [0, 8)'],
    ['an unknown dtype', build({ a: entry('F31', [2], [0, 8]) }, f32x2), 'tensor "a" has unknown dtype "F31"'],
    ['a size/shape mismatch', build({ a: entry('F32', [3], [0, 8]) }, f32x2), 'tensor "a" data_offsets [0, 8] span 8 bytes but F32 shape [3] needs 12'],
    ['a non-integer shape', build({ a: entry('F32', [2.5], [0, 8]) }, f32x2), 'tensor "a" shape [2.5] is not a list of non-negative integers'],
    ['reversed offsets', build({ a: entry('F32', [0], [8, 0]) }, f32x2), 'tensor "a" data_offsets [8,0] are not [begin, end] integers with begin <= end'],
    ['an entry that is not an object', build({ a: 3 }), 'tensor "a" entry is not an object'],
    ['__metadata__ not an object', build({ __metadata__: ['x'] }), '__metadata__ is not an object'],
    ['__metadata__ with a non-string value', build({ __metadata__: { epoch: 3 } }), '__metadata__ value for "epoch" is 3, not a string'],
  ];

  for (const [what, bytes, msg] of cases) {
    it(`rejects ${what} with one clear line`, () => {
      const path = join(dir, 'model.safetensors');
      writeFileSync(path, bytes);
      for (const read of [() => parseSafetensors(bytes, path), () => readSafetensors(path), () => openSafetensors(path)]) {
        let err: Error | undefined;
        try {
          read();
        } catch (e) {
          err = e as Error;
        }
        expect(err).toBeInstanceOf(Error);
        expect(err!.message).toContain(msg);
        expect(err!.message.startsWith(`${path}: `)).toBe(true);
        expect(err!.message).not.toContain('\n');
      }
    });
  }

  it('names a missing file or a directory', () => {
    expect(() => readSafetensors(dir)).toThrow(new RegExp(`^${dir}: cannot read: EISDIR`));
    const path = join(dir, 'nope.safetensors');
    expect(() => readSafetensors(path)).toThrow(new RegExp(`^${path}: cannot read: ENOENT`));
  });
});
