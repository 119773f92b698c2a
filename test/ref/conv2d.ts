// Float64 CPU reference for conv2d (PyTorch semantics), straightforward loops.
import type { Arr } from './cpu.js';

export interface ConvRefOpts {
  stride?: number | [number, number];
  padding?: number | [number, number];
  relu?: boolean;
}

const two = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/** y[n,o,oh,ow] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] x[n,c,oh*sh-ph+kh, ow*sw-pw+kw] (zero outside x). */
export function conv2dRef(x: Arr, w: Arr, b: Arr | null, opts: ConvRefOpts = {}): Arr {
  const [N, C, H, W] = x.shape, [O, , KH, KW] = w.shape;
  const [sh, sw] = two(opts.stride, 1), [ph, pw] = two(opts.padding, 0);
  const OH = Math.floor((H + 2 * ph - KH) / sh) + 1, OW = Math.floor((W + 2 * pw - KW) / sw) + 1;
  const y = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let s = b ? b.data[o] : 0;
    for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh - ph + kh, iw = ow * sw - pw + kw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      s += w.data[((o * C + c) * KH + kh) * KW + kw] * x.data[((n * C + c) * H + ih) * W + iw];
    }
    y[((n * O + o) * OH + oh) * OW + ow] = opts.relu ? Math.max(s, 0) : s;
  }
  return { data: y, shape: [N, O, OH, OW] };
}

/** Gradients of sum(dy * conv2d(x, w, b)) (no relu): the adjoint loops of conv2dRef. */
export function conv2dGradRef(x: Arr, w: Arr, dy: Arr, opts: ConvRefOpts = {}): { dx: Arr; dw: Arr; db: Arr } {
  const [N, C, H, W] = x.shape, [O, , KH, KW] = w.shape, [, , OH, OW] = dy.shape;
  const [sh, sw] = two(opts.stride, 1), [ph, pw] = two(opts.padding, 0);
  const dx = new Float64Array(x.data.length), dw = new Float64Array(w.data.length), db = new Float64Array(O);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const g = dy.data[((n * O + o) * OH + oh) * OW + ow];
    db[o] += g;
    for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh - ph + kh, iw = ow * sw - pw + kw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const xi = ((n * C + c) * H + ih) * W + iw, wi = ((o * C + c) * KH + kh) * KW + kw;
      dx[xi] += w.data[wi] * g;
      dw[wi] += x.data[xi] * g;
    }
  }
  return { dx: { data: dx, shape: [...x.shape] }, dw: { data: dw, shape: [...w.shape] }, db: { data: db, shape: [O] } };
}
