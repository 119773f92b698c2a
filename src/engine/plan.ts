// A step's buffer plan. Training repeats one step's pattern of allocations: the same sizes,
// acquired and released in the same order. Seen twice running, the pattern is planned as a
// whole: each buffer the step acquires and releases gets a slot, a GPU buffer that no buffer
// live at the same time shares, sized by its largest use. A size-class pool, deciding one
// allocation at a time, keeps small buffers free from a network's deep layers while its
// backward pass asks for ever larger ones; the plan knows what comes.

/** The buffers acquired between two step marks, by the order of their acquire. */
export class Trace {
  /** Each buffer's size class, and the event (acquire or release, counted) when it was acquired and released (-1: not yet). */
  readonly sizes: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  private clock = 0;

  /** Records an acquire of `size`; returns its index. */
  acquired(size: number): number {
    this.starts.push(this.clock++);
    this.ends.push(-1);
    return this.sizes.push(size) - 1;
  }

  released(index: number): void {
    this.ends[index] = this.clock++;
  }

  get length(): number {
    return this.sizes.length;
  }

  same(o: Trace): boolean {
    const n = this.sizes.length;
    if (o.sizes.length !== n) return false;
    for (let i = 0; i < n; i++) if (this.sizes[i] !== o.sizes[i] || this.ends[i] !== o.ends[i]) return false;
    return true; // (starts follow from the sizes' count and the ends)
  }
}

export interface SlotPlan {
  /** The slot of each acquire of the trace; -1 for buffers still held at its end. */
  readonly slotOf: Int32Array;
  /** Each slot's bytes: the largest buffer it holds. */
  readonly capacity: number[];
}

/**
 * Slots for a trace's buffers that are released within it: largest first, each into the
 * smallest slot that is free over its lifetime, or a new slot of its size (greedy by size,
 * as for shared objects in Pisarchyk and Lee's "Efficient memory management for deep neural
 * net inference", 2020).
 */
export function planSlots(t: Trace): SlotPlan {
  const { sizes, starts, ends } = t;
  const slotOf = new Int32Array(sizes.length).fill(-1);
  const order = [];
  for (let i = 0; i < sizes.length; i++) if (ends[i] >= 0) order.push(i);
  order.sort((a, b) => sizes[b] - sizes[a] || starts[a] - starts[b]);
  const capacity: number[] = [];
  // per slot, the lifetimes it holds, by start (disjoint, so by end as well)
  const from: number[][] = [], to: number[][] = [];
  const place = (s: number, i: number): number => {
    // index of the first lifetime in slot s starting after i's; i fits if the one before ended before it starts
    const st = from[s];
    let lo = 0, hi = st.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (st[mid] < starts[i]) lo = mid + 1;
      else hi = mid;
    }
    return (lo === 0 || to[s][lo - 1] < starts[i]) && (lo === st.length || st[lo] > ends[i]) ? lo : -1;
  };
  for (const i of order) {
    let best = -1, at = -1;
    for (let s = 0; s < capacity.length; s++) {
      if (best >= 0 && capacity[s] >= capacity[best]) continue;
      const k = place(s, i);
      if (k >= 0) [best, at] = [s, k];
    }
    if (best < 0) {
      best = capacity.push(sizes[i]) - 1;
      from.push([]);
      to.push([]);
      at = 0;
    }
    from[best].splice(at, 0, starts[i]);
    to[best].splice(at, 0, ends[i]);
    slotOf[i] = best;
  }
  return { slotOf, capacity };
}
