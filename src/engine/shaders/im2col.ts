// im2col and its adjoint col2im: convolution as an explicit GEMM, for layers whose
// output has few pixels and many channels (ResNet's last stages, 1x1 downsamples), where
// the implicit-GEMM kernels, parallel over pixels, leave most lanes idle.

import { dispatch } from '../runtime.js';
import { Tensor } from '../tensor.js';
import { forEach, groupsFor, perInvocation } from './elementwise.js';
import type { ConvGeom } from './conv2d.js';
import { WG_INDEX } from '../runtime.js';

const PARAMS = /* wgsl */ `
struct P { n: u32, per: u32, C: u32, H: u32, W: u32, KH: u32, KW: u32, SH: u32, SW: u32, PH: u32, PW: u32, OH: u32, OW: u32 }`;

// COLS (N*OH*OW, C*KH*KW)[r, (c*KH + kh)*KW + kw] = X (N,C,H,W)[n, c, oh*SH - PH + kh, ow*SW - PW + kw], 0 outside
const IM2COL = /* wgsl */ `${WG_INDEX}${PARAMS}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> COLS: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${forEach(`let K = p.C * p.KH * p.KW;
    let r = i / K; let q = i % K;
    let kw = q % p.KW; let kh = (q / p.KW) % p.KH; let c = q / (p.KW * p.KH);
    let ow = r % p.OW; let oh = (r / p.OW) % p.OH; let n = r / (p.OW * p.OH);
    let h = i32(oh * p.SH + kh) - i32(p.PH);
    let w = i32(ow * p.SW + kw) - i32(p.PW);
    let inside = h >= 0 && h < i32(p.H) && w >= 0 && w < i32(p.W);
    let src = ((n * p.C + c) * p.H + u32(max(h, 0))) * p.W + u32(max(w, 0));
    COLS[i] = select(0.0, X[src], inside);`)}`;

// DX (N,C,H,W)[n,c,h,w] = sum over (kh, kw) with (h + PH - kh) / SH = oh and (w + PW - kw) / SW = ow
// exact and in range of DCOLS (N*OH*OW, C*KH*KW)[(n*OH + oh)*OW + ow, (c*KH + kh)*KW + kw]
const COL2IM = /* wgsl */ `${WG_INDEX}${PARAMS}
@group(0) @binding(0) var<storage, read> DCOLS: array<f32>;
@group(0) @binding(1) var<storage, read_write> DX: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${forEach(`let w = i % p.W; let h = (i / p.W) % p.H; let c = (i / (p.W * p.H)) % p.C; let n = i / (p.W * p.H * p.C);
    let K = p.C * p.KH * p.KW;
    var acc = 0.0;
    for (var kh = 0u; kh < p.KH; kh++) {
      let th = i32(h + p.PH) - i32(kh);
      if (th < 0 || u32(th) % p.SH != 0u || u32(th) / p.SH >= p.OH) { continue; }
      let oh = u32(th) / p.SH;
      for (var kw = 0u; kw < p.KW; kw++) {
        let tw = i32(w + p.PW) - i32(kw);
        if (tw < 0 || u32(tw) % p.SW != 0u || u32(tw) / p.SW >= p.OW) { continue; }
        let ow = u32(tw) / p.SW;
        acc += DCOLS[((n * p.OH + oh) * p.OW + ow) * K + (c * p.KH + kh) * p.KW + kw];
      }
    }
    DX[i] = acc;`)}`;

const params = (n: number, g: ConvGeom) => [n, perInvocation(), g.C, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.OH, g.OW];

/** x (N,C,H,W) -> cols (N*OH*OW, C*KH*KW). */
export function im2col(x: Tensor, g: ConvGeom): Tensor {
  const cols = Tensor.empty([g.N * g.OH * g.OW, g.C * g.KH * g.KW]);
  dispatch(IM2COL, [x, cols], params(cols.size, g), groupsFor(cols.size));
  return cols;
}

/** dcols (N*OH*OW, C*KH*KW) -> dx (N,C,H,W), summing overlapping windows. */
export function col2im(dcols: Tensor, g: ConvGeom): Tensor {
  const dx = Tensor.empty([g.N, g.C, g.H, g.W]);
  dispatch(COL2IM, [dcols, dx], params(dx.size, g), groupsFor(dx.size));
  return dx;
}
