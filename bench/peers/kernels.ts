// Kernel cases against the peers: n x n matmul (our figure from bench/matmul.ts, plain A B
// layout) and the two conv2d layers of bench/conv2d.ts (forward, input and weight gradients),
// each peer timing the same shapes in float32.

import type { Row } from '../util.js';
import { peerColumns, runPeer, type PeerCase, type PeerName, type PeerOptions, type PeerRun } from './peer.js';

interface ConvLayer {
  key: string; // bench/conv2d.ts's --layer filter
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  padding: number;
}

export const MATMUL_SIZES = [1024, 2048];
export const CONV_LAYERS: ConvLayer[] = [
  { key: 'LeNet', x: [32, 3, 224, 224], w: [6, 3, 5, 5], stride: 1, padding: 0 },
  { key: 'VGG', x: [8, 64, 56, 56], w: [64, 64, 3, 3], stride: 1, padding: 1 },
];
const CONV_PARTS = ['forward', 'backward input', 'backward weight'];

// Work in GFLOP, so that work / seconds is GFLOP/s.
const matmulGflop = (n: number) => (2 * n ** 3) / 1e9;
function convGflop(l: ConvLayer): number {
  const [N, C, H, W] = l.x, [O, , KH, KW] = l.w;
  const OH = Math.floor((H + 2 * l.padding - KH) / l.stride) + 1, OW = Math.floor((W + 2 * l.padding - KW) / l.stride) + 1;
  return (2 * N * O * OH * OW * C * KH * KW) / 1e9;
}

/** Our rate in a row of rateColumns: wall clock, and GPU clock when the row's is. */
export function ours(r: Row, unit: string): { wall: number; gpu: number | null } {
  return { wall: Number(r[`wall_${unit}`]), gpu: r.clock === 'gpu' ? Number(r[unit]) : null };
}

export const matmulCase = (n: number, runs: number): PeerCase => ({ id: `matmul ${n}`, kind: 'matmul', n, runs, warmup: 1, minSeconds: 2 });

/** Runs each wanted peer on the cases `casesFor` gives it, one peer after the other. */
export async function runPeers(peers: readonly PeerName[], casesFor: (p: PeerName) => PeerCase[], o: PeerOptions): Promise<PeerRun[]> {
  const out: PeerRun[] = [];
  for (const p of peers) out.push(await runPeer(p, casesFor(p), o));
  return out;
}

/** Adds peer columns to bench/matmul.ts's rows of the plain layout; returns the peers. */
export async function addMatmulPeers(rows: Row[], peers: readonly PeerName[], o: PeerOptions): Promise<PeerRun[]> {
  const sizes = [...new Set(rows.map((r) => Number(r.n)))];
  const runs = await runPeers(peers, (p) => sizes.map((n) => matmulCase(n, 5)), o);
  for (const r of rows) if (r.name === String(r.n)) peerColumns(r, runs, `matmul ${r.n}`, matmulGflop(Number(r.n)), ours(r, 'gflops'), 'gflops');
  return runs;
}

/** The kernel table: matmul 1024 and 2048, the two conv2d layers, ours against the peers. */
export async function kernelTable(peers: readonly PeerName[], o: PeerOptions & { runs: number }): Promise<{ rows: Row[]; peers: PeerRun[] }> {
  const { run: matmul } = await import('../matmul.js');
  const { run: conv2d } = await import('../conv2d.js');
  const rows: Row[] = [];
  for (const r of await matmul({ sizes: MATMUL_SIZES.join(',') })) {
    if (r.name !== String(r.n)) continue;
    rows.push({ name: `matmul ${r.n}`, gflops: r.gflops, min_gflops: r.min_gflops, max_gflops: r.max_gflops, wall_gflops: r.wall_gflops, clock: r.clock });
  }
  const conv = new Map<string, ConvLayer>();
  for (const l of CONV_LAYERS) {
    for (const r of await conv2d({ layer: l.key, runs: String(o.runs) })) {
      const part = CONV_PARTS.find((p) => r.name.endsWith(` ${p}`));
      if (!part) continue;
      const id = `conv2d ${l.key} ${part}`;
      conv.set(id, l);
      rows.push({ name: r.name, gflops: r.gflops, min_gflops: r.min_gflops, max_gflops: r.max_gflops, wall_gflops: r.wall_gflops, clock: r.clock, _id: id });
    }
  }
  const cases = (p: PeerName): PeerCase[] => [
    ...MATMUL_SIZES.map((n) => matmulCase(n, o.runs)),
    ...(p === 'torch' ? [...conv].map(([id, l]) => ({ id, kind: 'conv2d' as const, x: l.x, w: l.w, stride: l.stride, padding: l.padding, what: id.split(' ').slice(2).join(' '), runs: o.runs, warmup: 1, minSeconds: 2 })) : []),
  ];
  const runs = await runPeers(peers, cases, o);
  for (const r of rows) {
    const id = typeof r._id === 'string' ? r._id : r.name;
    delete r._id;
    const l = conv.get(id);
    peerColumns(r, runs, id, l ? convGflop(l) : matmulGflop(Number(id.split(' ')[1])), ours(r, 'gflops'), 'gflops');
  }
  return { rows, peers: runs };
}
