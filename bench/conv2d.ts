// conv2d GFLOP/s (forward, input gradient, weight gradient) for LeNet's first layer at
// 224x224 and a VGG layer; each figure the median of several runs (--runs, default 5).
// --layer <substring> and --only <forward|backward> pick cases; --to/--tp/--wg override
// the block shape for tuning.
import { Tensor, numel, tidy } from '../src/engine/tensor.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeom, type Conv2dOpts, type ConvConfig } from '../src/engine/shaders/conv2d.js';
import { sync } from '../src/engine/runtime.js';
import { time, rateColumns, type Row } from './util.js';

interface Layer {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  opts: Conv2dOpts;
}

const LAYERS: Layer[] = [
  { name: 'LeNet conv1 32x3x224² * 6x3x5x5', x: [32, 3, 224, 224], w: [6, 3, 5, 5], opts: { stride: 1, padding: 0 } },
  { name: 'VGG 8x64x56² * 64x64x3x3 p1', x: [8, 64, 56, 56], w: [64, 64, 3, 3], opts: { stride: 1, padding: 1 } },
];

const filled = (shape: number[]) => {
  const n = numel(shape);
  return Tensor.from(Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), shape).keep();
};

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const runs = typeof args.runs === 'string' ? Number(args.runs) : 5;
  const only = typeof args.layer === 'string' ? args.layer : '';
  const rows: Row[] = [];
  for (const l of LAYERS.filter((l) => l.name.toLowerCase().includes(only.toLowerCase()))) {
    const g = convGeom(l.x, l.w, l.opts);
    const flop = 2 * g.N * g.O * g.OH * g.OW * g.C * g.KH * g.KW;
    const x = filled(l.x), w = filled(l.w), b = filled([g.O]), dy = filled([g.N, g.O, g.OH, g.OW]);
    // --to/--tp/--wg/--sg override the block configuration (for tuning)
    const cfg = (ch: number): ConvConfig | undefined =>
      args.to || args.tp ? { TO: Math.min(Number(args.to ?? 8), ch), TP: Number(args.tp ?? 8), WG: Number(args.wg ?? 64), sg: Number(args.sg ?? 0) } : undefined;
    const cases: [string, () => Tensor][] = [
      ['forward', () => conv2dForward(x, w, b, l.opts, cfg(g.O))],
      ['backward input', () => conv2dBackwardInput(dy, w, l.x, l.opts, cfg(g.C))],
      ['backward weight', () => conv2dBackwardWeight(dy, x, l.w, l.opts, cfg(g.O))],
    ];
    for (const [what, fn] of cases) {
      if (typeof args.only === 'string' && !what.startsWith(args.only)) continue;
      const run1 = () => { tidy(() => { fn(); }); };
      const t = await time(run1, { runs, warmup: 1 });
      // GFLOP per CPU-second (lavapipe's threads included) says more than wall time
      // when other processes share the cores
      const c0 = process.cpuUsage();
      for (let i = 0; i < 3; i++) { run1(); await sync(); }
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6 / 3;
      rows.push({ ...rateColumns(t, flop / 1e9, 'gflops'), name: `${l.name} ${what}`, ms: t.median * 1e3, gflop_per_cpu_s: flop / cpu / 1e9 });
    }
    for (const t of [x, w, b, dy]) t.dispose();
  }
  return rows;
}
