// A step's buffer plan (engine/plan.ts): buffers live at the same time never share a slot,
// each slot holds its largest buffer; and the pool (engine/pool.ts) that plans a repeated
// step keeps a network's forward-then-backward pattern within 1.25x of its live bytes.
import { describe, expect, it } from 'vitest';
import { planSlots, Trace } from '../../src/engine/plan.js';
import { BufferPool } from '../../src/engine/pool.js';

/** A trace from [size, acquire event, release event] triples (release -1: held past the step). */
function traceOf(buffers: [number, number, number][]): Trace {
  const events: [number, 'a' | 'r', number][] = [];
  buffers.forEach(([, a, r], i) => {
    events.push([a, 'a', i]);
    if (r >= 0) events.push([r, 'r', i]);
  });
  events.sort((x, y) => x[0] - y[0]);
  const t = new Trace(), index = new Map<number, number>();
  for (const [, kind, i] of events) {
    if (kind === 'a') index.set(i, t.acquired(buffers[i][0]));
    else t.released(index.get(i)!);
  }
  return t;
}

/** The most bytes live at once, and a check that no two buffers live at once share a slot. */
function checkPlan(t: Trace): { slots: number; peakLive: number } {
  const { slotOf, capacity } = planSlots(t);
  let peakLive = 0;
  for (let i = 0; i < t.length; i++) {
    if (t.ends[i] < 0) {
      expect(slotOf[i]).toBe(-1);
      continue;
    }
    expect(capacity[slotOf[i]]).toBeGreaterThanOrEqual(t.sizes[i]);
    let live = 0;
    for (let j = 0; j < t.length; j++) {
      const overlap = t.ends[j] < 0 ? t.starts[j] <= t.starts[i] : t.starts[j] <= t.starts[i] && t.ends[j] > t.starts[i];
      if (overlap && t.ends[j] >= 0) live += t.sizes[j];
      if (j !== i && t.ends[j] >= 0 && !(t.ends[j] < t.starts[i] || t.starts[j] > t.ends[i])) expect(slotOf[j]).not.toBe(slotOf[i]);
    }
    peakLive = Math.max(peakLive, live);
  }
  return { slots: capacity.reduce((a, b) => a + b, 0), peakLive };
}

describe('planSlots', () => {
  it('gives buffers live at once different slots, each at least their size; held buffers none', () => {
    const t = traceOf([[100, 0, 5], [200, 1, 3], [50, 2, 9], [300, 4, 8], [100, 6, 7], [400, 10, -1], [200, 11, 12]]);
    checkPlan(t);
    const { slotOf } = planSlots(t);
    expect(slotOf[5]).toBe(-1);
    expect(slotOf[6]).toBe(slotOf[3]); // 300's slot is free again: 200 fits in it
  });

  it('keeps the rules on random traces', () => {
    let s = 12345;
    const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 20; trial++) {
      const buffers: [number, number, number][] = [];
      for (let i = 0; i < 60; i++) {
        const a = Math.floor(rnd() * 200) * 100 + i; // distinct event times
        buffers.push([256 * 2 ** Math.floor(rnd() * 10), a, rnd() < 0.1 ? -1 : a + 100 * (1 + Math.floor(rnd() * 40))]);
      }
      const t = traceOf(buffers);
      const { slots, peakLive } = checkPlan(t);
      expect(slots).toBeGreaterThanOrEqual(peakLive);
    }
  });
});

/** A device that only counts buffers. */
function fakeDevice() {
  const made: { size: number; destroyed: boolean }[] = [];
  const device = {
    createBuffer: ({ size }: { size: number }) => {
      const b = { size, destroyed: false, destroy: () => void (b.destroyed = true) };
      made.push(b);
      return b;
    },
  };
  return { made, device: device as unknown as GPUDevice };
}

describe('BufferPool with step marks', () => {
  const MB = 2 ** 20;
  /**
   * A network's training step: an input, then per layer a temporary and a kept activation,
   * halving layer by layer; backward, gradients doubling while activations are released.
   * Checks that no buffer is handed out twice at once; returns the most bytes live.
   */
  function step(pool: BufferPool, held: Set<GPUBuffer>, base: number, layers = 8): number {
    let live = 0, peak = 0;
    const get = (bytes: number) => {
      const b = pool.acquire(bytes);
      expect(held.has(b)).toBe(false);
      held.add(b);
      live += bytes;
      peak = Math.max(peak, live);
      return [b, bytes] as const;
    };
    const put = ([b, bytes]: readonly [GPUBuffer, number]) => {
      held.delete(b);
      pool.release(b);
      live -= bytes;
    };
    const x = get(base);
    const acts = [];
    for (let l = 0; l < layers; l++) {
      const tmp = get(base >> l);
      acts.push(get((base >> l) * 0.9));
      put(tmp);
    }
    let grad = get(256);
    for (let l = layers - 1; l >= 0; l--) {
      const g = get(base >> l);
      put(grad);
      put(acts[l]);
      grad = g;
    }
    put(grad);
    put(x);
    return peak;
  }

  it('plans a repeated step: no buffer made after it, and at most 1.25x the live bytes; a step off the plan stays correct', () => {
    const { made, device } = fakeDevice();
    const pool = new BufferPool(device, 0);
    const held = new Set<GPUBuffer>();
    const weights = [pool.acquire(40 * MB), pool.acquire(8 * MB)]; // held throughout
    const kept = 48 * MB;
    const mark = () => pool.mark() && pool.adopt();
    let peakLive = 0;
    for (let i = 0; i < 3; i++) {
      peakLive = Math.max(peakLive, kept + step(pool, held, 64 * MB));
      mark();
    }
    const unplanned = pool.peakBytes;
    expect(unplanned / peakLive).toBeGreaterThan(1.25); // one allocation at a time: far more
    const before = made.length;
    pool.peakBytes = pool.allocatedBytes;
    for (let i = 0; i < 5; i++) {
      step(pool, held, 64 * MB);
      mark();
    }
    const madeInPlan = made.length - before;
    expect(pool.peakBytes / peakLive).toBeLessThanOrEqual(1.25);
    step(pool, held, 64 * MB);
    expect(made.length - before).toBe(madeInPlan); // the plan's slots, made once
    step(pool, held, 16 * MB, 5); // a different step: served, nothing handed out twice
    mark();
    for (let i = 0; i < 3; i++) {
      step(pool, held, 64 * MB);
      mark();
    }
    expect(made.slice(0, weights.length).some((b) => b.destroyed)).toBe(false); // held buffers are never given back
    expect(pool.allocatedBytes / peakLive).toBeLessThanOrEqual(1.25);
  });
});
