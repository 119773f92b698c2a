// Pooling over (N,C,H,W) planes: max pool with saved argmax indices and its gather
// backward, adaptive average pool and its backward. Each invocation walks a run of RUN
// columns of one output row (forward) or input row (backward); every backward is a
// gather, so overlapping windows sum without atomics.

import { config, splitToFit } from '../config.js';
import { dispatch, WG_INDEX, type Binding } from '../runtime.js';
import { Tensor, pair, type Pair, type Shape } from '../tensor.js';

const WG = 256;

export interface MaxPool2dOpts {
  kernel: Pair;
  stride?: Pair; // default: kernel
  padding?: Pair; // default: 0
}

/** Sizes of one pooling: the input planes (N*C of H x W), the window and the output. */
export interface PoolGeom {
  NC: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  PH: number;
  PW: number;
}

function planes(shape: Shape, what: string): [number, number, number] {
  if (shape.length !== 4) throw new Error(`${what} expects (N,C,H,W) input, got [${shape}]`);
  return [shape[0] * shape[1], shape[2], shape[3]];
}

/** Checks the options as PyTorch does and computes the (floor) output size. */
export function maxPoolGeom(shape: Shape, o: MaxPool2dOpts): PoolGeom {
  const [NC, H, W] = planes(shape, 'max_pool2d');
  const [KH, KW] = pair(o.kernel);
  const [SH, SW] = pair(o.stride ?? o.kernel);
  const [PH, PW] = pair(o.padding ?? 0);
  if (![KH, KW, SH, SW].every((v) => Number.isInteger(v) && v > 0) || ![PH, PW].every((v) => Number.isInteger(v) && v >= 0)) {
    throw new Error(`max_pool2d: kernel and stride must be positive integers and padding non-negative, got kernel ${KH}x${KW} stride ${SH}x${SW} padding ${PH}x${PW}`);
  }
  if (2 * PH > KH || 2 * PW > KW) throw new Error(`max_pool2d: pad should be at most half of effective kernel size, got padding ${PH}x${PW} for kernel ${KH}x${KW}`);
  const OH = Math.floor((H + 2 * PH - KH) / SH) + 1, OW = Math.floor((W + 2 * PW - KW) / SW) + 1;
  if (OH < 1 || OW < 1) throw new Error(`max_pool2d: output size ${OH}x${OW} is too small for input [${shape}] with kernel ${KH}x${KW}`);
  return { NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW };
}

/** Columns per invocation, a multiple of 4 (CPU adapters pay per invocation: long runs; GPUs want many threads). */
const runLength = () => config().poolRun;

const geomParams = (g: PoolGeom, NC = g.NC) => [NC, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, runLength()];

/**
 * Runs a per-plane kernel over groups of whole planes small enough for one storage
 * binding each (a VGG activation at batch 32 is above lavapipe's 128 MiB). `tensors`
 * pairs each bound tensor with its elements per plane; `run` gets the bindings and the
 * number of planes of a group.
 */
function overPlanes(NC: number, tensors: [Tensor, number][], run: (bindings: Binding[], planes: number) => void): void {
  const runs = splitToFit('pooling', NC, tensors.map(([, e]) => 4 * e), { hint: 'use a smaller batch' });
  if (runs.length === 1) return run(tensors.map(([t]) => t), NC);
  for (const [p0, n] of runs) run(tensors.map(([t, e]) => t.bytes(4 * p0 * e, 4 * n * e)), n);
}

/** Dispatches a pooling kernel over rows of `cols` columns (rows per plane), planes grouped to fit the bindings. */
function poolDispatch(code: string, g: PoolGeom, tensors: [Tensor, number][], rows: number, cols: number): void {
  const perPlane = rows * Math.ceil(cols / runLength());
  overPlanes(g.NC, tensors, (b, planes) => dispatch(code, b, geomParams(g, planes), Math.ceil((planes * perPlane) / WG)));
}

const HEADER = /* wgsl */ `${WG_INDEX}
struct P { NC: u32, H: u32, W: u32, OH: u32, OW: u32, KH: u32, KW: u32, SH: u32, SW: u32, PH: u32, PW: u32, RUN: u32 }
// max pool: the outputs whose window holds padded row hp start at firstWindow (oh*S <= hp < oh*S + K)
fn firstWindow(hp: u32, K: u32, S: u32) -> u32 { return select(0u, (hp + S - K) / S, hp >= K); }
// adaptive pool: output row o of on averages rows [regionStart, regionEnd) of n
fn regionStart(o: u32, n: u32, on: u32) -> u32 { return (o * n) / on; }
fn regionEnd(o: u32, n: u32, on: u32) -> u32 { return ((o + 1u) * n + on - 1u) / on; }`;

/** The entry point: invocation gid takes columns [c0, c1) of row `row` (plane * rows + r) of a pooling's input or output. */
const main = (rows: string, cols: string) => /* wgsl */ `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let gid = wgIndex(wid, nwg) * ${WG}u + li;
  let runs = (${cols} + p.RUN - 1u) / p.RUN;
  let row = gid / runs;
  if (row >= p.NC * ${rows}) { return; }
  let c0 = (gid % runs) * p.RUN; let c1 = min(c0 + p.RUN, ${cols});`;

/**
 * A forward kernel over the outputs o = (plane, oh, ow): `bounds` declares the input window
 * [h0, h1) x [w0, w1) of (oh, ow), then `init`, `step` for each value v at (h, w), `store`.
 */
function windowReduce(doc: string, outputs: string, bounds: string, init: string, step: string, store: string): string {
  return /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> X: array<f32>;
${outputs}
${doc}
${main('p.OH', 'p.OW')}
  let oh = row % p.OH; let base = (row / p.OH) * p.H * p.W;
  for (var ow = c0; ow < c1; ow++) {
    let o = row * p.OW + ow;
    ${bounds}
    ${init}
    for (var h = h0; h < h1; h++) {
      for (var w = w0; w < w1; w++) { let v = X[base + h * p.W + w]; ${step} }
    }
    ${store}
  }
}`;
}

const MAX_FWD = windowReduce(
  `// Y, IDX (N,C,OH,OW) = max of X (N,C,H,W) over the window at (oh*SH - PH, ow*SW - PW) clipped to
// the plane, and the plane offset h*W + w of its first maximum in row-major window order.
// NOTE: padded positions never win (PyTorch pads with -inf); ties go to the first maximum.`,
  `@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<storage, read_write> IDX: array<i32>;
@group(0) @binding(3) var<uniform> p: P;`,
  `let h0 = max(oh * p.SH, p.PH) - p.PH; let h1 = min(oh * p.SH + p.KH - p.PH, p.H);
    let w0 = max(ow * p.SW, p.PW) - p.PW; let w1 = min(ow * p.SW + p.KW - p.PW, p.W);`,
  'var arg = h0 * p.W + w0; var best = X[base + arg];',
  'if (v > best) { best = v; arg = h * p.W + w; }',
  'Y[o] = best; IDX[o] = i32(arg);',
);

const AVG_FWD = windowReduce(
  '// Y (N,C,OH,OW) = mean of X (N,C,H,W) over the region of (oh, ow)',
  `@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;`,
  `let h0 = regionStart(oh, p.H, p.OH); let h1 = regionEnd(oh, p.H, p.OH);
    let w0 = regionStart(ow, p.W, p.OW); let w1 = regionEnd(ow, p.W, p.OW);`,
  'var acc = 0.0;',
  'acc += v;',
  'Y[o] = acc / f32((h1 - h0) * (w1 - w0));',
);

const MAX_BWD = /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read> IDX: array<i32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
// DX (N,C,H,W) = sum of DY (N,C,OH,OW) over the outputs whose argmax IDX is (h, w): a gather over
// the windows that can hold it, so overlapping windows need no atomics. Columns go by 4: an
// argmax equal to h*W + w0 + t adds to column t of the group at w0.
${main('p.H', 'p.W')}
  let h = row % p.H; let ob = (row / p.H) * p.OH * p.OW;
  let hp = h + p.PH; let oh0 = firstWindow(hp, p.KH, p.SH); let oh1 = min(hp / p.SH + 1u, p.OH);
  for (var w0 = c0; w0 < c1; w0 += 4u) {
    let hw0 = i32(h * p.W + w0);
    let wp = w0 + p.PW; let ow1 = min((wp + 3u) / p.SW + 1u, p.OW);
    var acc = vec4<f32>(0.0);
    for (var oh = oh0; oh < oh1; oh++) {
      for (var ow = firstWindow(wp, p.KW, p.SW); ow < ow1; ow++) {
        let o = ob + oh * p.OW + ow;
        acc += select(vec4<f32>(0.0), vec4<f32>(DY[o]), vec4<i32>(IDX[o] - hw0) == vec4<i32>(0, 1, 2, 3));
      }
    }
    for (var t = 0u; t < min(4u, c1 - w0); t++) { DX[row * p.W + w0 + t] = acc[t]; }
  }
}`;

/** What the max_pool2d forward saves for its backward. */
export type MaxPoolSaved = {
  /** (N,C,OH,OW) i32: the argmax plane offsets h*W+w (PyTorch's return_indices). */
  idx: Tensor;
  geom: PoolGeom;
};

/** max_pool2d: y (N,C,OH,OW) and the argmax indices. */
export function maxPool2dForward(x: Tensor, o: MaxPool2dOpts): { y: Tensor; saved: MaxPoolSaved } {
  const g = maxPoolGeom(x.shape, o);
  const shape = [x.shape[0], x.shape[1], g.OH, g.OW];
  const y = Tensor.empty(shape), idx = Tensor.empty(shape, 'i32');
  poolDispatch(MAX_FWD, g, [[x, g.H * g.W], [y, g.OH * g.OW], [idx, g.OH * g.OW]], g.OH, g.OW);
  return { y, saved: { idx, geom: g } };
}

/** The gradient of max_pool2d with respect to its input (N,C,H,W). */
export function maxPool2dBackward(dy: Tensor, { idx, geom: g }: MaxPoolSaved, xShape: Shape): Tensor {
  const dx = Tensor.empty(xShape);
  poolDispatch(MAX_BWD, g, [[dy, g.OH * g.OW], [idx, g.OH * g.OW], [dx, g.H * g.W]], g.H, g.W);
  return dx;
}

const AVG_BWD = /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read_write> DX: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
// DX (N,C,H,W) = sum of DY (N,C,OH,OW) / region size over the outputs whose region holds (h, w)
${main('p.H', 'p.W')}
  let h = row % p.H; let ob = (row / p.H) * p.OH * p.OW;
  if (p.OH == 1u && p.OW == 1u) { // global average
    let g = DY[row / p.H] / f32(p.H * p.W);
    for (var w = c0; w < c1; w++) { DX[row * p.W + w] = g; }
    return;
  }
  for (var w = c0; w < c1; w++) {
    var acc = 0.0;
    // regions are increasing: the first that ends after h is floor(h*OH/H)
    for (var oh = (h * p.OH) / p.H; oh < p.OH && regionStart(oh, p.H, p.OH) <= h; oh++) {
      let rh = regionEnd(oh, p.H, p.OH) - regionStart(oh, p.H, p.OH);
      for (var ow = (w * p.OW) / p.W; ow < p.OW && regionStart(ow, p.W, p.OW) <= w; ow++) {
        let rw = regionEnd(ow, p.W, p.OW) - regionStart(ow, p.W, p.OW);
        acc += DY[ob + oh * p.OW + ow] / f32(rh * rw);
      }
    }
    DX[row * p.W + w] = acc;
  }
}`;

function adaptiveGeom(shape: Shape, [OH, OW]: readonly [number, number]): PoolGeom {
  const [NC, H, W] = planes(shape, 'adaptive_avg_pool2d');
  if (!(Number.isInteger(OH) && Number.isInteger(OW) && OH > 0 && OW > 0)) throw new Error(`adaptive_avg_pool2d: bad output size ${OH}x${OW}`);
  if (H === 0 || W === 0) throw new Error(`adaptive_avg_pool2d: empty input planes [${shape}]`);
  return { NC, H, W, OH, OW, KH: 0, KW: 0, SH: 0, SW: 0, PH: 0, PW: 0 };
}

/** adaptive_avg_pool2d to (OH, OW) (1x1 for a global average). */
export function adaptiveAvgPool2dForward(x: Tensor, out: readonly [number, number]): Tensor {
  const g = adaptiveGeom(x.shape, out);
  const y = Tensor.empty([x.shape[0], x.shape[1], g.OH, g.OW]);
  poolDispatch(AVG_FWD, g, [[x, g.H * g.W], [y, g.OH * g.OW]], g.OH, g.OW);
  return y;
}

export function adaptiveAvgPool2dBackward(dy: Tensor, xShape: Shape): Tensor {
  const g = adaptiveGeom(xShape, [dy.shape[2], dy.shape[3]]);
  const dx = Tensor.empty(xShape);
  poolDispatch(AVG_BWD, g, [[dy, g.OH * g.OW], [dx, g.H * g.W]], g.H, g.W);
  return dx;
}
