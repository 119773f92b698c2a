// Square f32 matmul GFLOP/s at 256..2048 for each operand layout; --peers [torch|tfjs]
// adds PyTorch's and TF.js-WebGPU's figures for the plain layout (bench/peers/).
import { Tensor, tidy } from '../src/engine/tensor.js';
import { matmul } from '../src/engine/shaders/matmul.js';
import { time, rateColumns, type Row } from './util.js';
import { addMatmulPeers } from './peers/kernels.js';
import { wantedPeers } from './peers/peer.js';

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const sizes = typeof args.sizes === 'string' ? args.sizes.split(',').map(Number) : [256, 512, 1024, 2048];
  const layouts = args.all ? [[false, false], [true, false], [false, true], [true, true]] : [[false, false], [true, false], [false, true]];
  const rows: Row[] = [];
  for (const n of sizes) {
    const data = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const a = Tensor.from(data, [n, n]).keep(), b = Tensor.from(data, [n, n]).keep();
    for (const [transA, transB] of layouts) {
      const reps = Math.max(1, Math.round(2 ** 27 / (n * n * n))); // keep one sample >= ~0.1 s
      const t = await time(() => { tidy(() => { for (let r = 0; r < reps; r++) matmul(a, b, { transA, transB }); }); }, { runs: n >= 2048 ? 3 : 5, warmup: 1 });
      const flop = 2 * n * n * n * reps;
      rows.push({ ...rateColumns(t, flop / 1e9, 'gflops'), name: `${n}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`, n, ms: (t.median * 1e3) / reps });
    }
    a.dispose();
    b.dispose();
  }
  if (args.peers) for (const p of await addMatmulPeers(rows, wantedPeers(args.peers), {})) console.error(`matmul: ${p.describe()}`);
  return rows;
}
