// Float64 CPU references for pooling over (N,C,H,W): straightforward loops.
import { type Arr } from './cpu.js';

export interface PoolRefOpts {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

/** max_pool2d: windows clipped to the input (padding = -inf), first maximum wins; idx = h*W+w. */
export function maxPool2dRef(x: Arr, { kernel: [kh, kw], stride: [sh, sw], padding: [ph, pw] }: PoolRefOpts): { y: Arr; idx: number[] } {
  const [N, C, H, W] = x.shape;
  const OH = Math.floor((H + 2 * ph - kh) / sh) + 1, OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(N * C * OH * OW);
  const idx: number[] = [];
  let o = 0;
  for (let p = 0; p < N * C; p++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let best = -Infinity, arg = -1;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const h = oh * sh - ph + i, w = ow * sw - pw + j;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      const v = x.data[p * H * W + h * W + w];
      if (v > best) {
        best = v;
        arg = h * W + w;
      }
    }
    y[o] = best;
    idx.push(arg);
    o++;
  }
  return { y: { data: y, shape: [N, C, OH, OW] }, idx };
}

/** The gradient of max_pool2d: each dy added at its window's argmax. */
export function maxPool2dBackwardRef(dy: Arr, idx: number[], xShape: number[]): Arr {
  const [N, C, H, W] = xShape;
  const [, , OH, OW] = dy.shape;
  const dx = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) for (let o = 0; o < OH * OW; o++) dx[p * H * W + idx[p * OH * OW + o]] += dy.data[p * OH * OW + o];
  return { data: dx, shape: [...xShape] };
}

/** adaptive_avg_pool2d: output (oh, ow) averages rows floor(oh*H/OH) .. ceil((oh+1)*H/OH)-1, likewise columns. */
export function adaptiveAvgPool2dRef(x: Arr, [OH, OW]: [number, number]): Arr {
  const [N, C, H, W] = x.shape;
  const y = new Float64Array(N * C * OH * OW);
  let o = 0;
  for (let p = 0; p < N * C; p++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const h0 = Math.floor((oh * H) / OH), h1 = Math.ceil(((oh + 1) * H) / OH);
    const w0 = Math.floor((ow * W) / OW), w1 = Math.ceil(((ow + 1) * W) / OW);
    let s = 0;
    for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x.data[p * H * W + h * W + w];
    y[o++] = s / ((h1 - h0) * (w1 - w0));
  }
  return { data: y, shape: [N, C, OH, OW] };
}
