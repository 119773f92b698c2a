// Cross-entropy forward+backward at (512, 2) and (512, 1000), softmax forward and
// backward at (8*12*197, 197) (ViT-B/16 attention, batch 8), and dropout: ms and GB/s.
// Options: --reps N (dispatches per sample, default 10), --lanes L (invocations per row).
// GB/s counts the bytes an ideal kernel moves: each input read once, each output written once.
// The elementwise copy of the same size is the baseline for a memory-bound kernel here.
import { Tensor, tidy } from '../src/engine/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { crossEntropy, softmax } from '../src/autograd/softmax.js';
import { overrideConfig } from '../src/engine/config.js';
import { softmaxBackward, softmaxForward } from '../src/engine/shaders/softmax.js';
import { dropoutKernel } from '../src/engine/shaders/dropout.js';
import { unary } from '../src/engine/shaders/elementwise.js';
import { time, msColumns, type Row } from './util.js';

const randn = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 250 - 2);

async function row(name: string, bytes: number, reps: number, fn: () => void): Promise<Row> {
  const t = await time(() => tidy(fn), { runs: 7, warmup: 2 });
  return { ...msColumns(t, reps), name, gbps: (bytes * reps) / t.median / 1e9 };
}

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const reps = typeof args.reps === 'string' ? Number(args.reps) : 10;
  const restore = overrideConfig(typeof args.lanes === 'string' ? { rowLanes: Number(args.lanes) } : {}); // --lanes L: invocations per row
  const rows: Row[] = [];
  for (const [N, K] of [[512, 2], [512, 1000]]) {
    const x = Tensor.from(randn(N * K), [N, K]).keep();
    x.requiresGrad = true;
    const labels = Tensor.from(Int32Array.from({ length: N }, (_, i) => (i * 31) % K), [N]).keep();
    // forward reads x and labels; backward reads x, labels, lse and writes dx
    const bytes = 4 * (2 * N * K + N * K + 2 * N + N);
    rows.push(await row(`xent fwd+bwd ${N}x${K}`, bytes, reps, () => {
      for (let r = 0; r < reps; r++) {
        backward(crossEntropy(x, labels));
        x.grad!.dispose();
        x.grad = null;
      }
    }));
    x.dispose();
    labels.dispose();
  }
  const [R, K] = [8 * 12 * 197, 197];
  const x = Tensor.from(randn(R * K), [R, K]).keep();
  const y = softmaxForward(x, false).keep();
  rows.push(await row(`softmax fwd ${R}x${K}`, 8 * R * K, reps, () => {
    for (let r = 0; r < reps; r++) softmaxForward(x, false);
  }));
  rows.push(await row(`softmax bwd ${R}x${K}`, 12 * R * K, reps, () => {
    for (let r = 0; r < reps; r++) softmaxBackward(x, y, false);
  }));
  rows.push(await row(`softmax fwd+bwd (autograd) ${R}x${K}`, 20 * R * K, reps, () => {
    x.requiresGrad = true;
    for (let r = 0; r < reps; r++) {
      backward(softmax(x), y);
      x.grad!.dispose();
      x.grad = null;
    }
    x.requiresGrad = false;
  }));
  rows.push(await row(`baseline: elementwise copy ${R}x${K}`, 8 * R * K, reps, () => {
    for (let r = 0; r < reps; r++) unary('copy', x);
  }));
  rows.push(await row(`dropout p=0.5 ${R}x${K}`, 8 * R * K, reps, () => {
    for (let r = 0; r < reps; r++) dropoutKernel(x, 0.5, r, 7);
  }));
  x.dispose();
  y.dispose();
  restore();
  return rows;
}
