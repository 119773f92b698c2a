import { describe, expect, it } from 'vitest';
import { Rng, mixSeed } from '../../src/engine/rng.js';

describe('Rng', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('draws within its ranges, roughly uniformly', () => {
    const r = new Rng(1);
    const u = Array.from({ length: 10000 }, () => r.next());
    const k = Array.from({ length: 1000 }, () => r.int(7));
    const v = Array.from({ length: 1000 }, () => r.uniform(-2, 3));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((a, b) => a + b) / u.length).toBeCloseTo(0.5, 1);
    expect(new Set(k)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]));
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...v)).toBeLessThan(3);
  });

  it('shuffles into a seeded permutation', () => {
    const p = new Rng(7).permutation(50);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(new Rng(7).permutation(50)).toEqual(p);
    expect(new Rng(8).permutation(50)).not.toEqual(p);
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('mixes seed parts in order', () => {
    expect(mixSeed(1, 2, 3)).toBe(mixSeed(1, 2, 3));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 3, 2));
    expect(mixSeed(0, 0)).not.toBe(mixSeed(0, 1));
  });
});
