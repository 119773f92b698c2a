// Float64 CPU references for the engine's ops (row-major arrays with shapes).

export interface Arr {
  data: Float64Array;
  shape: number[];
}

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function arr(shape: number[], f: (i: number) => number): Arr {
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = f(i);
  return { data, shape };
}

/** Deterministic pseudo-random numbers in [lo, hi). */
export function rand(shape: number[], seed: number, lo = -1, hi = 1): Arr {
  let s = seed >>> 0 || 1;
  return arr(shape, () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return lo + ((s >>> 0) / 4294967296) * (hi - lo);
  });
}

export function strides(shape: readonly number[]): number[] {
  const st = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function map(a: Arr, f: (x: number) => number): Arr {
  return { data: a.data.map(f), shape: [...a.shape] };
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
}

function bIndex(idx: number[], shape: readonly number[]): number {
  const off = idx.length - shape.length;
  let j = 0;
  for (let d = 0; d < shape.length; d++) j = j * shape[d] + (shape[d] === 1 ? 0 : idx[off + d]);
  return j;
}

export function zip(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const shape = broadcastShape(a.shape, b.shape);
  return arr(shape, (i) => {
    const idx = unravel(i, shape);
    return f(a.data[bIndex(idx, a.shape)], b.data[bIndex(idx, b.shape)]);
  });
}

/** Reduction over `axes` with keepDim semantics chosen by the caller. */
export function reduceRef(a: Arr, axes: number[], op: 'sum' | 'max', keepDim: boolean, scale = 1): { y: Arr; idx?: number[] } {
  const keepShape = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outN = numel(keepShape);
  const acc = new Float64Array(outN).fill(op === 'sum' ? 0 : -Infinity);
  const arg = new Array(outN).fill(0);
  const rstr = strides(axes.map((ax) => a.shape[ax]));
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    const o = bIndex(idx, keepShape);
    const r = axes.reduce((s, ax, k) => s + idx[ax] * rstr[k], 0);
    const v = a.data[i];
    if (op === 'sum') acc[o] += v;
    else if (v > acc[o]) {
      acc[o] = v;
      arg[o] = r;
    }
  }
  const shape = keepDim ? keepShape : a.shape.filter((_, i) => !axes.includes(i));
  return { y: { data: acc.map((v) => v * scale), shape }, idx: arg };
}

export function matmulRef(a: Arr, b: Arr, transA = false, transB = false): Arr {
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac, N = transB ? br : bc;
  const ba = numel(a.shape.slice(0, -2)), bb = numel(b.shape.slice(0, -2));
  const batch = Math.max(ba, bb);
  const lead = (ba >= bb ? a : b).shape.slice(0, -2);
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const ao = (ba === 1 ? 0 : z) * M * K, bo = (bb === 1 ? 0 : z) * K * N;
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = a.data[ao + (transA ? k * M + m : m * K + k)];
        const bv = b.data[bo + (transB ? n * K + k : k * N + n)];
        s += av * bv;
      }
      out[z * M * N + m * N + n] = s;
    }
  }
  return { data: out, shape: [...lead, M, N] };
}

export function permuteRef(a: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => a.shape[p]);
  const st = strides(a.shape);
  return arr(shape, (i) => {
    const idx = unravel(i, shape);
    return a.data[idx.reduce((s, c, d) => s + c * st[perm[d]], 0)];
  });
}

export function sliceRef(a: Arr, start: number[], size: number[]): Arr {
  const st = strides(a.shape);
  return arr(size, (i) => {
    const idx = unravel(i, size);
    return a.data[idx.reduce((s, c, d) => s + (c + start[d]) * st[d], 0)];
  });
}

export function concatRef(xs: Arr[], axis: number): Arr {
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
  return arr(shape, (i) => {
    const idx = unravel(i, shape);
    let c = idx[axis];
    for (const x of xs) {
      if (c < x.shape[axis]) {
        const j = [...idx];
        j[axis] = c;
        return x.data[bIndex(j, x.shape)];
      }
      c -= x.shape[axis];
    }
    throw new Error('unreachable');
  });
}

/**
 * Central finite differences of L(x) = sum(w * f(x)) with respect to each input,
 * computed on the float64 reference.
 */
export function numericGrad(f: (xs: Arr[]) => Arr, xs: Arr[], w: Arr, h = 1e-6): Arr[] {
  const L = () => {
    const y = f(xs);
    let s = 0;
    for (let i = 0; i < y.data.length; i++) s += y.data[i] * w.data[i];
    return s;
  };
  return xs.map((x) => {
    const g = new Float64Array(x.data.length);
    for (let i = 0; i < x.data.length; i++) {
      const v = x.data[i];
      x.data[i] = v + h;
      const lp = L();
      x.data[i] = v - h;
      const lm = L();
      x.data[i] = v;
      g[i] = (lp - lm) / (2 * h);
    }
    return { data: g, shape: [...x.shape] };
  });
}

/** Distinct values, at least 1/64 apart (exact in f32), in a scrambled order: no ties, clean finite differences through max. */
export function distinct(shape: number[], seed: number): Arr {
  const n = numel(shape);
  const r = rand([n], seed);
  const order = [...r.data.keys()].sort((a, b) => r.data[a] - r.data[b]);
  const rank = new Array<number>(n);
  order.forEach((k, i) => (rank[k] = i));
  return arr(shape, (i) => (rank[i] - n / 2) / 64);
}
