import { describe, it, expect } from 'vitest';
import { bf16ArrayToF32, bf16ToF32, f16ArrayToF32, f16ToF32, f32ArrayToBf16, f32ArrayToF16, f32ToBf16, f32ToF16 } from '../../src/io/half.js';

// Every finite non-negative half, by bit pattern, from the IEEE definition (independent of half.ts).
const halfValue = (h: number) => {
  const e = h >> 10;
  const m = h & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
};
const HALVES = Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));

// Nearest half by search, ties to the even pattern; at or past 65504 + ulp/2 it is inf.
function refF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (HALVES[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0x7bff) return sign | lo;
  const dLo = a - HALVES[lo];
  const dHi = HALVES[lo + 1] - a;
  return sign | (dLo < dHi || (dLo === dHi && lo % 2 === 0) ? lo : lo + 1);
}

describe('f16', () => {
  it('decodes known bit patterns', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  it('encodes known values', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -14)).toBe(0x0400);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16(NaN) & 0x3ff).not.toBe(0);
  });

  it('rounds to nearest even, including subnormals and overflow', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie -> even (down)
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // half the smallest subnormal: tie -> 0
    expect(f32ToF16(2 ** -25 + 2 ** -35)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 units: tie -> 2
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up out of the subnormals
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie at max + ulp/2 -> inf
    expect(f32ToF16(1e-30)).toBe(0x0000);
    expect(f32ToF16(-1e-30)).toBe(0x8000);
  });

  it('matches a brute-force nearest-half reference on random floats', () => {
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const xs = new Float32Array(20000);
    for (let i = 0; i < xs.length; i++) {
      const mag = 2 ** (rand() * 46 - 28); // 2^-28 .. 2^18: zero, subnormal, normal, inf
      xs[i] = (rand() < 0.5 ? -1 : 1) * mag;
    }
    const got = f32ArrayToF16(xs);
    for (let i = 0; i < xs.length; i++) {
      if (got[i] !== refF16(xs[i])) expect([xs[i], got[i]]).toEqual([xs[i], refF16(xs[i])]);
    }
  });

  it('round-trips every half bit pattern', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ArrayToF16(f16ArrayToF32(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!isNaN && back[h] !== h) expect(back[h]).toBe(h);
      if (isNaN && !Number.isNaN(f16ToF32(h))) expect(f16ToF32(h)).toBeNaN();
    }
  });
});

describe('bf16', () => {
  it('decodes and encodes known bit patterns', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc060)).toBe(-3.5);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(-3.5)).toBe(0xc060);
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(f32ToBf16(NaN) & 0x7f80).toBe(0x7f80);
    expect(f32ToBf16(NaN) & 0x7f).not.toBe(0);
  });

  it('rounds to nearest even', () => {
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even (down)
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16(3.4e38)).toBe(0x7f80); // past the largest bf16 -> inf
  });

  it('converts arrays both ways', () => {
    const bits = f32ArrayToBf16(new Float32Array([1, -3.5, 0.15625]));
    expect([...bits]).toEqual([0x3f80, 0xc060, 0x3e20]);
    expect([...bf16ArrayToF32(bits)]).toEqual([1, -3.5, 0.15625]);
  });
});
