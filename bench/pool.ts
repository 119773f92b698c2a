// Pooling and normalisation kernels: ms and effective GB/s (the least traffic each
// pass needs: every input read once, every output written once), medians.
//   npm run bench -- pool [--only copy|maxpool|avg|bn|ln] [--runs N] [--run COLUMNS] [--mode row|group]
import { Tensor, numel, tidy } from '../src/engine/tensor.js';
import { adaptiveAvgPool2dBackward, adaptiveAvgPool2dForward, maxPool2dBackward, maxPool2dForward, type MaxPool2dOpts } from '../src/engine/shaders/pool.js';
import { unary } from '../src/engine/shaders/elementwise.js';
import { batchNormBackward, batchNormForward, layerNormBackward, layerNormForward, normMode, type NormMode } from '../src/engine/shaders/norm.js';
import { overrideConfig, type EngineConfig } from '../src/engine/config.js';
import { time, msColumns, type Row } from './util.js';

function randomTensor(shape: number[], seed: number): Tensor {
  const n = numel(shape);
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return Tensor.from(data, shape).keep();
}

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const only = typeof args.only === 'string' ? args.only : null;
  const runs = typeof args.runs === 'string' ? Number(args.runs) : 7;
  const rows: Row[] = [];
  const measure = async (name: string, bytes: number, fn: () => void) => {
    const t = await time(() => void tidy(fn), { runs, warmup: 1 });
    rows.push({ ...msColumns(t), name, gbps: bytes / t.median / 1e9 });
  };
  const part = (p: string) => !only || only === p;
  let restore = () => {};
  const force = (set: Partial<EngineConfig>) => {
    restore();
    restore = overrideConfig(set);
  };
  const run = typeof args.run === 'string' ? Number(args.run) : 0;
  const poolRun = () => (run ? { poolRun: run } : {});
  force(poolRun());

  if (part('copy')) {
    // the elementwise copy kernel over the max-pool input: a yardstick for this adapter's bandwidth
    const x = randomTensor([32, 6, 220, 220], 1);
    await measure('copy (elementwise) [32,6,220,220]', 8 * x.size, () => void unary('copy', x));
    x.dispose();
  }

  if (part('maxpool')) {
    const cases: [string, number[], MaxPool2dOpts][] = [['2x2/2', [32, 6, 220, 220], { kernel: 2 }], ['3x3/2/1', [8, 64, 112, 112], { kernel: 3, stride: 2, padding: 1 }]];
    for (const [label, shape, o] of cases) {
      const x = randomTensor(shape, 1);
      const { y, saved } = maxPool2dForward(x, o);
      y.keep(); saved.idx.keep();
      const bytes = 4 * x.size + 8 * y.size; // forward: x in, y and idx out; backward: dy and idx in, dx out
      const tag = `maxpool ${label} [${shape}]${run ? ` run ${run}` : ''}`;
      await measure(`${tag} fwd`, bytes, () => void maxPool2dForward(x, o));
      await measure(`${tag} bwd`, bytes, () => void maxPool2dBackward(y, saved, x.shape));
      await measure(`${tag} fwd+bwd`, 2 * bytes, () => {
        const f = maxPool2dForward(x, o);
        maxPool2dBackward(f.y, f.saved, x.shape);
      });
      for (const t of [x, y, saved.idx]) t.dispose();
    }
  }

  if (part('avg')) {
    const x = randomTensor([32, 512, 7, 7], 2);
    const y = adaptiveAvgPool2dForward(x, [1, 1]).keep();
    const bytes = 4 * (x.size + y.size);
    await measure('adaptive avg 7x7->1 [32,512,7,7] fwd', bytes, () => void adaptiveAvgPool2dForward(x, [1, 1]));
    await measure('adaptive avg 7x7->1 [32,512,7,7] bwd', bytes, () => void adaptiveAvgPool2dBackward(y, x.shape));
    x.dispose();
    y.dispose();
  }

  const modes: NormMode[] = args.mode ? [args.mode as NormMode] : ['row', 'group'];
  const modeTag = (m: NormMode, D: number) => {
    force(poolRun());
    return `${m}${m === normMode(D) ? ' (default)' : ''}`;
  };

  if (part('bn')) {
    const shape = [8, 64, 56, 56];
    const x = randomTensor(shape, 3), dy = randomTensor(shape, 4), w = randomTensor([64], 5), b = randomTensor([64], 6);
    const rm = randomTensor([64], 7), rv = Tensor.from(new Float32Array(64).fill(1), [64]).keep();
    for (const mode of modes) {
      const tag = `batchnorm [${shape}] ${modeTag(mode, 56 * 56)}`;
      force({ ...poolRun(), normMode: mode });
      const { saved } = batchNormForward(x, w, b, rm, rv, { training: true });
      saved.stats.keep();
      await measure(`${tag} train fwd`, 8 * x.size, () => void batchNormForward(x, w, b, rm, rv, { training: true }));
      await measure(`${tag} eval fwd`, 8 * x.size, () => void batchNormForward(x, w, b, rm, rv, { training: false }));
      await measure(`${tag} train bwd`, 12 * x.size, () => void batchNormBackward(dy, saved, x, w));
      await measure(`${tag} train fwd+bwd`, 20 * x.size, () => {
        const f = batchNormForward(x, w, b, rm, rv, { training: true });
        batchNormBackward(dy, f.saved, x, w);
      });
      saved.stats.dispose();
    }
    for (const t of [x, dy, w, b, rm, rv]) t.dispose();
  }

  if (part('ln')) {
    const shape = [8 * 197, 768];
    const x = randomTensor(shape, 8), dy = randomTensor(shape, 9), w = randomTensor([768], 10), b = randomTensor([768], 11);
    for (const mode of modes) {
      const tag = `layernorm [${shape}] ${modeTag(mode, 768)}`;
      force({ ...poolRun(), normMode: mode });
      const { saved } = layerNormForward(x, w, b, 1e-12);
      saved.stats.keep();
      await measure(`${tag} fwd`, 8 * x.size, () => void layerNormForward(x, w, b, 1e-12));
      await measure(`${tag} bwd`, 12 * x.size, () => void layerNormBackward(dy, saved, x, w));
      saved.stats.dispose();
    }
    for (const t of [x, dy, w, b]) t.dispose();
  }
  restore();
  return rows;
}
