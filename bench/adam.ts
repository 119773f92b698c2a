// Clip + Adam step over ~10M parameters (ten 1M tensors; one 10M tensor; with --big the
// seed DNN's 150528x256 layer, which is above the binding limit and runs in chunks):
// ms per step and effective GB/s (bytes each kernel must read and write once).
import { Tensor, tidy } from '../src/engine/tensor.js';
import { Adam, clipGradNorm, gradNormScale } from '../src/optim/index.js';
import { time, msColumns, type Row } from './util.js';

const ADAM_BYTES = 28; // read p, g, m, v; write p, m, v (f32)
const CLIP_BYTES = 12; // sum of squares reads g; the in-place scale reads and writes g

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (((i * 2654435761 + seed * 40503) >>> 0) % 2000) / 1000 - 1;
  return a;
}

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const configs: [string, number[][]][] = [
    ['10 x 1M', Array.from({ length: 10 }, () => [1000, 1000])],
    ['1 x 10M', [[10_000, 1000]]],
  ];
  if (args.big) configs.push(['150528x256', [[150528, 256]]]);
  const rows: Row[] = [];
  for (const [name, shapes] of configs) {
    const ps = shapes.map((s, k) => {
      const p = Tensor.from(filled(s[0] * s[1], k), s).keep();
      p.grad = Tensor.from(filled(s[0] * s[1], k + 100), s).keep();
      return p;
    });
    const n = ps.reduce((a, p) => a + p.size, 0);
    const opt = new Adam(ps, { lr: 1e-3 });
    const cases: [string, () => void, number][] = [
      ['adam', () => opt.step(), ADAM_BYTES],
      ['clip + adam', () => tidy(() => {
        clipGradNorm(ps, 1e9);
        opt.step();
      }), ADAM_BYTES + CLIP_BYTES],
      ['clip fused into adam', () => tidy(() => {
        const { scale } = gradNormScale(ps, 1e9);
        opt.step({ gradScale: scale });
      }), ADAM_BYTES + 4],
      ['norm only', () => tidy(() => void gradNormScale(ps, 1e9)), 4],
    ];
    for (const [what, fn, bytes] of cases) {
      const t = await time(fn, { warmup: 2, runs: 7 });
      rows.push({ ...msColumns(t), name: `${name} ${what}`, params_M: n / 1e6, gbps: (bytes * n) / t.median / 1e9 });
    }
    opt.dispose();
    for (const p of ps) {
      p.grad?.dispose();
      p.dispose();
    }
  }
  return rows;
}
