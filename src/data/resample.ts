// Pillow's bilinear resize for 8-bit images (Resample.c), in JS so arrays such as Fashion-MNIST need not
// go through sharp per image. Antialiased like Pillow (the triangle filter widens by the downscale
// factor), separable (horizontal pass first, rounded to uint8 between passes), 22-bit fixed point.
const PRECISION_BITS = 22;

function coefficients(inSize: number, outSize: number): { bounds: Int32Array; kk: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the bilinear filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = Math.max(0, 1 - Math.abs((x + xmin - center + 0.5) * ss));
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = (ww !== 0 ? w[x] / ww : w[x]) * (1 << PRECISION_BITS);
      kk[xx * ksize + x] = Math.trunc(k < 0 ? k - 0.5 : k + 0.5);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

const clip8 = (ss: number): number => Math.min(255, Math.max(0, Math.floor(ss / (1 << PRECISION_BITS))));

// One pass along an axis: `stride` is the step between taps (c for rows, w*c for columns).
function pass(src: Uint8Array, w: number, h: number, c: number, ow: number, oh: number, horizontal: boolean): Uint8Array {
  const { bounds, kk, ksize } = coefficients(horizontal ? w : h, horizontal ? ow : oh);
  const out = new Uint8Array(ow * oh * c);
  const stride = horizontal ? c : w * c;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const min = bounds[o * 2];
      const n = bounds[o * 2 + 1];
      const base = horizontal ? (y * w + min) * c : (min * w + x) * c;
      for (let ch = 0; ch < c; ch++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < n; k++) ss += src[base + k * stride + ch] * kk[o * ksize + k];
        out[(y * ow + x) * c + ch] = clip8(ss);
      }
    }
  }
  return out;
}

/** HWC uint8 (h,w,c) -> (oh,ow,c), as PIL's Image.resize((ow, oh), Image.BILINEAR). */
export function resizeBilinear(src: Uint8Array, w: number, h: number, c: number, ow: number, oh: number): Uint8Array {
  let out = src;
  if (ow !== w) out = pass(out, w, h, c, ow, h, true);
  if (oh !== h) out = pass(out, ow, h, c, ow, oh, false);
  return out;
}

/** HWC uint8 crop, as PIL's Image.crop((left, top, left + width, top + height)) inside the image. */
export function crop(src: Uint8Array, w: number, c: number, top: number, left: number, height: number, width: number): Uint8Array {
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * w + left) * c;
    out.set(src.subarray(from, from + width * c), y * width * c);
  }
  return out;
}
