// Fused attention at ViT-B/16 shapes (B=8, heads=12, T=197, d=64 by default): forward and
// forward+backward, ms and GFLOP/s, for the adapter's configuration and a few others; for
// scale, the batched matmuls an unfused version would run (no softmax, no elementwise).
// cpu_ms is the process's CPU time per run (all lavapipe threads): steadier than wall
// time when other work shares the machine.
// Options: --B --heads --T --d, --configs "WG:RQ:KB:U,..." (KB 0 = direct loads, U 1 = unrolled).
import { Tensor, tidy } from '../src/engine/tensor.js';
import { sync } from '../src/engine/runtime.js';
import { attentionBackward, attentionConfig, attentionForward, type AttentionConfig, type AttentionDims } from '../src/engine/shaders/attention.js';
import { matmul } from '../src/engine/shaders/matmul.js';
import { time, msColumns, type Row } from './util.js';

export async function run(args: Record<string, string | boolean>): Promise<Row[]> {
  const num = (k: string, d: number) => (typeof args[k] === 'string' ? Number(args[k]) : d);
  const B = num('B', 8), H = num('heads', 12), T = num('T', 197), d = num('d', 64);
  const configs: AttentionConfig[] = typeof args.configs === 'string'
    ? args.configs.split(',').map((s) => { const [WG, RQ, KB, U] = s.split(':').map(Number); return { WG, RQ, KB, unroll: U === 1 }; })
    : [attentionConfig(d), { WG: 16, RQ: 2, KB: 0, unroll: false }, { WG: 32, RQ: 1, KB: 32, unroll: false }];
  const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => (((i + seed) * 7919) % 1000) / 1000 - 0.5);
  const [q, k, v, dO] = [1, 2, 3, 4].map((s) => Tensor.from(rand(B * H * T * d, s), [B, H, T, d]).keep());
  const scale = 1 / Math.sqrt(d);
  const flopF = 4 * B * H * T * T * d; // Q K^T and P V
  const flopB = 8 * B * H * T * T * d; // dV, dP, dQ, dK (the recomputed Q K^T is not counted)
  const rows: Row[] = [];
  const measure = async (name: string, flop: number, fn: () => void) => {
    const t = await time(() => { tidy(fn); }, { warmup: 1, runs: 5 });
    const c0 = process.cpuUsage();
    for (let r = 0; r < 3; r++) { tidy(fn); await sync(); }
    const c = process.cpuUsage(c0);
    rows.push({ ...msColumns(t), name, gflops: flop / t.median / 1e9, cpu_ms: (c.user + c.system) / 3e3 });
  };
  const layouts: [string, AttentionDims][] = [['bhtd', { BH: B * H, H: 1, Tq: T, Tk: T, d, layout: 'bhtd' }], ['bthd', { BH: B * H, H, Tq: T, Tk: T, d, layout: 'bthd' }]];
  for (const [layout, dims] of layouts) {
    for (const cfg of layout === 'bhtd' ? configs : configs.slice(0, 1)) {
      const tag = `${layout} WG=${cfg.WG} RQ=${cfg.RQ} KB=${cfg.KB}${cfg.unroll ? ' unrolled' : ''}${cfg === configs[0] ? ' (default)' : ''}`;
      const fwd = () => attentionForward(q, k, v, dims, scale, [B, H, T], cfg);
      await measure(`forward ${tag}`, flopF, fwd);
      await measure(`fwd+bwd ${tag}`, flopF + flopB, () => { const { y, saved } = fwd(); attentionBackward(dO, saved, q, k, v, y, dims, scale, cfg); });
    }
  }
  // unfused reference points: the batched matmuls alone
  const [qf, kf] = [q, k].map((t) => t.view([B * H, T, d]));
  const s = Tensor.empty([B * H, T, T]).keep();
  await measure('matmuls of a forward: Q Kᵀ, P V', flopF, () => { matmul(qf, kf, { transB: true }); matmul(s, kf); });
  await measure('matmuls of a materialised backward: S, dP, dV, dQ, dK', flopB + flopF / 2, () => {
    matmul(qf, kf, { transB: true }); matmul(qf, kf, { transB: true }); matmul(s, qf, { transA: true }); matmul(s, kf); matmul(s, qf, { transA: true });
  });
  for (const t of [q, k, v, dO, qf, kf, s]) t.dispose();
  return rows;
}
