// conv2d as im2col + matmul, with its backward (matmuls + col2im): the path for layers
// with few output pixels and many channels, where the matmul's parallelism is channels.

import { dispose, Tensor } from '../engine/tensor.js';
import { permute } from '../engine/shaders/layout.js';
import { matmul } from '../engine/shaders/matmul.js';
import { reduce } from '../engine/shaders/reduce.js';
import { col2im, im2col } from '../engine/shaders/im2col.js';
import { convGeom, type Conv2dOpts } from '../engine/shaders/conv2d.js';
import { throughRelu } from './ops.js';
import { record } from './tape.js';

/** Output pixels from which the forward's matmul writes NCHW itself (a batch of products with few columns each runs slowly). */
const DIRECT_PIXELS = 32;

/** (rows, O) -> (N, O, OH, OW), or back with `toRows`. */
function nchw(y2: Tensor, N: number, O: number, OH: number, OW: number): Tensor {
  const v = y2.view([N, OH * OW, O]);
  const y = permute(v, [0, 2, 1]);
  v.dispose();
  const out = y.view([N, O, OH, OW]);
  y.dispose();
  return out;
}

function toRows(dy: Tensor, N: number, O: number, P: number): Tensor {
  const v = dy.view([N, O, P]);
  const t = permute(v, [0, 2, 1]);
  v.dispose();
  const out = t.view([N * P, O]);
  t.dispose();
  return out;
}

/** y (N,O,OH,OW) = conv2d(x, w) [+ b] [relu], as an explicit GEMM over im2col columns. */
export function conv2dGemm(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOpts & { relu?: boolean } = {}): Tensor {
  const g = convGeom(x.shape, w.shape, opts);
  const K = g.C * g.KH * g.KW;
  const cols = im2col(x, g); // (N*OH*OW, K), saved for dw
  const w2 = w.view([g.O, K]);
  const P = g.OH * g.OW;
  let y: Tensor;
  if (!b && P >= DIRECT_PIXELS) {
    // y[n] (O, P) = w2 (O,K) cols[n]ᵀ: NCHW as it comes, no permute (a per-row bias is not fused: only without one)
    const c3 = cols.view([g.N, P, K]);
    const y3 = matmul(w2, c3, { transB: true, relu: opts.relu });
    y = y3.view([g.N, g.O, g.OH, g.OW]);
    dispose([c3, y3]);
  } else {
    const y2 = matmul(cols, w2, { transB: true, bias: b, relu: opts.relu });
    y = nchw(y2, g.N, g.O, g.OH, g.OW);
    y2.dispose();
  }
  return record(y, [x, w, b], (dy) => {
    // NOTE: relu'(0) = 0, as PyTorch
    const d2 = throughRelu(dy, y, opts.relu, (dz) => toRows(dz, g.N, g.O, g.OH * g.OW)); // (N*OH*OW, O)
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      const dcols = matmul(d2, w2);
      dx = col2im(dcols, g);
      dcols.dispose();
    }
    if (w.requiresGrad) {
      const dw2 = matmul(d2, cols, { transA: true });
      dw = dw2.view(w.shape);
      dw2.dispose();
    }
    if (b?.requiresGrad) db = reduce('sum', d2, 1, d2.shape[0], g.O, [g.O]).y;
    d2.dispose();
    return [dx, dw, db];
  }, [cols, w2]);
}
