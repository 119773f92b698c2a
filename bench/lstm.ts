// The seed's BiLSTM (T=224, In=672=3*224, H=256, 4 layers, bidirectional): forward, and
// forward + backward, in ms with their dispatch counts. Options: --batch 8 --seq 224
// --input 672 --hidden 256 --layers 4 --runs 3.
import { Tensor, numel, tidy } from '../src/engine/tensor.js';
import { stats, sync } from '../src/engine/runtime.js';
import { backward, noGrad } from '../src/autograd/tape.js';
import { lstm, type LstmParams } from '../src/autograd/lstm.js';
import { time, msColumns, type Row } from './util.js';

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const num = (k: string, d: number) => (typeof args[k] === 'string' ? Number(args[k]) : d);
  const N = num('batch', 8), T = num('seq', 224), In = num('input', 672), H = num('hidden', 256), L = num('layers', 4);
  const runs = num('runs', 3);
  const D = 2;
  const fill = (shape: number[], scale: number, seed: number) => {
    const n = numel(shape);
    const t = Tensor.from(Float32Array.from({ length: n }, (_, i) => (((i * 7919 + seed * 104729) % 1000) / 500 - 1) * scale), shape).keep();
    t.requiresGrad = true;
    return t;
  };
  const a = 1 / Math.sqrt(H);
  const params: LstmParams[] = [];
  for (let k = 0; k < L * D; k++) {
    const inK = k < D ? In : D * H;
    params.push({ wIh: fill([4 * H, inK], a, 4 * k), wHh: fill([4 * H, H], a, 4 * k + 1), bIh: fill([4 * H], a, 4 * k + 2), bHh: fill([4 * H], a, 4 * k + 3) });
  }
  const x = fill([N, T, In], 1, 99);
  const dy = fill([N, T, D * H], 1e-3, 98);
  const opts = { hidden: H, layers: L, bidirectional: true };
  const grads = () => [x, ...params.flatMap((p) => Object.values(p))].map((t) => (t.grad?.dispose(), (t.grad = null)));

  const rows: Row[] = [];
  const measure = async (name: string, fn: () => void) => {
    const d0 = stats().dispatches;
    fn(); // also the warm-up: compiles the pipelines
    grads();
    const dispatches = stats().dispatches - d0;
    await sync();
    const t = await time(() => (fn(), grads(), undefined), { warmup: 0, runs });
    rows.push({ ...msColumns(t), name, batch: N, dispatches, per_step: dispatches / (L * T) });
  };
  await measure('forward', () => tidy(() => { noGrad(() => lstm(x, params, opts)); }));
  await measure('forward+backward', () => tidy(() => backward(lstm(x, params, opts), dy)));
  for (const t of [x, dy, ...params.flatMap((p) => Object.values(p))]) t.dispose();
  return rows;
}
