// Whole-model speed: training images/s (a full step as `train` runs it: upload, forward,
// cross-entropy with metrics, backward, global-norm clip, Adam, zero_grad) and inference
// images/s (eval mode, no gradient) for the six models, on random data, against PyTorch
// and TF.js-WebGPU run in the same bench (bench/peers/). Each figure is the median of
// several steps after warm-up; each timed step ends with its loss (or logits) read back.
//
//   npm run bench -- train [--model lenet|...|all|a,b] [--image-size 224] [--batch-size 32]
//     [--channels 3] [--num-classes 2] [--mode train|infer|both] [--runs 5] [--warmup 2]
//     [--min-seconds 2] [--peers all|none|torch|tfjs] [--torch-device auto|cpu|cuda]
//     [--torch-threads n] [--peer-timeout 1800] [--profile] [--json]
//   --profile: after the timing, one more step with a pass (a timestamp pair) per dispatch;
//              stderr gets the kernels that took the most GPU time in it
//   npm run bench -- train --targets   the issue's targets: matmul 1024, LeNet 224 (batch 32)
//                                      and 28x28x1 (batch 256, 10 classes) against TF.js
//   npm run bench -- train --kernels   matmul 1024/2048 and the conv2d layers against the peers
// Defaults: 224x224, batch 32, 5 runs on a GPU; on a software adapter (lavapipe) 32x32,
// batch 8, 3 runs, so that all six models finish in minutes (stated on stderr). Notes on
// stderr give the load average, each model's step time and each peer's version and device.

import { loadavg } from 'node:os';
import { gpu } from '../src/engine/device.js';
import { Tensor, tidy } from '../src/engine/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { Metrics } from '../src/autograd/metrics.js';
import { manualSeed } from '../src/nn/init.js';
import { MODELS, modelSpec, type ImageConfig } from '../src/models/index.js';
import { Adam } from '../src/optim/index.js';
import { trainStep } from '../src/models/step.js';
import { pace, startGpuTimer, stopGpuTimer } from '../src/engine/runtime.js';
import { time, type Row, type Timing } from './util.js';
import { peerColumns, wantedPeers, type PeerCase, type PeerName, type PeerOptions, type PeerRun } from './peers/peer.js';
import { kernelTable, matmulCase, runPeers } from './peers/kernels.js';

type Args = Record<string, string | boolean>;
type Mode = 'train' | 'infer';
/** Timing: `runs` samples after `warmup` steps, more (up to 50) until `minSeconds` have passed. */
interface Steps {
  runs: number;
  warmup: number;
  minSeconds: number;
  clip: number;
  profile?: boolean;
}

interface ModelCase {
  id: string;
  model: string;
  mode: Mode;
  config: ImageConfig;
  batch: number;
}

const load = () => loadavg()[0];
const loadNote = (when: string) => note(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} ${when}`);
const num = (args: Args, k: string, d: number) => (typeof args[k] === 'string' ? Number(args[k]) : d);

/** The model's config at this size (fitted as the CLI fits it), channels and classes. */
export function configFor(model: string, size: number, channels: number, numClasses: number): ImageConfig {
  const spec = modelSpec(model);
  const c = { ...spec.defaults, channels, numClasses } as ImageConfig;
  c.imageSize = spec.fitImageSize ? spec.fitImageSize(size, c) : size;
  return c;
}

export function randomBatch(c: ImageConfig, n: number) {
  const x = Float32Array.from({ length: n * c.channels * c.imageSize * c.imageSize }, () => Math.random() * 2 - 1);
  const y = Int32Array.from({ length: n }, () => Math.floor(Math.random() * c.numClasses));
  return { x, y, shape: [n, c.channels, c.imageSize, c.imageSize] };
}

/** Times our training step and/or inference for one model; seconds per step. */
async function measure(model: string, config: ImageConfig, batch: number, modes: readonly Mode[], o: Steps): Promise<Map<Mode, Timing>> {
  manualSeed(0);
  const net = modelSpec(model).create(config);
  const params = net.parameters().filter((p) => p.requiresGrad);
  const opt = new Adam(params, { lr: 1e-3 });
  const metrics = new Metrics(config.numClasses);
  const data = randomBatch(config, batch);
  const out = new Map<Mode, Timing>();
  try {
    if (modes.includes('train')) {
      net.train();
      const step = async () => {
        const loss = tidy(() => trainStep(net, data, opt, o.clip, metrics));
        await loss.read();
        loss.dispose();
        await pace(); // as train does (the pool plans the repeated step)
      };
      out.set('train', await time(step, { ...o, prefer: 'wall' }));
      if (o.profile) await profile(`${model} train`, step);
    }
    if (modes.includes('infer')) {
      net.eval();
      const infer = async () => {
        const logits = noGrad(() => tidy(() => net.forward(Tensor.from(data.x, data.shape))));
        await logits.read();
        logits.dispose();
        await pace(); // as eval does
      };
      out.set('infer', await time(infer, { ...o, prefer: 'wall' }));
      if (o.profile) await profile(`${model} infer`, infer);
    }
  } finally {
    metrics.dispose();
    opt.dispose();
    net.dispose();
  }
  return out;
}

/** One step with a pass per dispatch: the kernels by GPU time (stderr). */
async function profile(what: string, step: () => Promise<void>): Promise<void> {
  if (!startGpuTimer({ perDispatch: true })) return note(`${what}: no profile (no timestamp queries)`);
  await step();
  const t = await stopGpuTimer();
  if (!t?.dispatches) return note(`${what}: no profile (more passes than the timer holds)`);
  const by = new Map<string, { s: number; n: number }>();
  for (const d of t.dispatches) {
    const e = by.get(d.kernel) ?? { s: 0, n: 0 };
    by.set(d.kernel, { s: e.s + d.seconds, n: e.n + 1 });
  }
  const total = t.dispatches.reduce((s, d) => s + d.seconds, 0);
  note(`${what}: profile of one step, ${t.dispatches.length} dispatches, ${(total * 1e3).toFixed(1)} ms of GPU time (a pass each: more than in a normal step)`);
  for (const [k, e] of [...by].sort((a, b) => b[1].s - a[1].s).slice(0, 12)) {
    note(`  ${(e.s * 1e3).toFixed(2).padStart(9)} ms ${((100 * e.s) / total).toFixed(1).padStart(5)}% ${String(e.n).padStart(4)}x  ${k}`);
  }
}

function peerCase(c: ModelCase, o: Steps, peer: PeerName): PeerCase | null {
  if (peer === 'tfjs' && c.model !== 'lenet') return null; // TF.js: LeNet only
  // A LeNet step at 224, batch 32 takes TF.js ~16 s through lavapipe: 1 warm-up, 3 samples.
  const slow = peer === 'tfjs' && c.config.imageSize * c.config.imageSize * c.batch > 1e6;
  return { id: c.id, kind: c.mode, model: c.model, config: c.config, batch: c.batch, lr: 1e-3, clip: o.clip, runs: slow ? Math.min(o.runs, 3) : o.runs, warmup: slow ? 1 : o.warmup, minSeconds: o.minSeconds };
}

function steps(args: Args, runs: number): Steps {
  return { runs: num(args, 'runs', runs), warmup: num(args, 'warmup', 2), minSeconds: num(args, 'min-seconds', 2), clip: num(args, 'clip', 1), profile: !!args.profile };
}

function peerOptions(args: Args): PeerOptions {
  return {
    device: typeof args['torch-device'] === 'string' ? args['torch-device'] : 'auto',
    threads: typeof args['torch-threads'] === 'string' ? Number(args['torch-threads']) : undefined,
    timeoutS: typeof args['peer-timeout'] === 'string' ? Number(args['peer-timeout']) : undefined,
  };
}

function note(line: string): void {
  console.error(`train: ${line}`);
}

function reportPeers(runs: readonly PeerRun[]): void {
  for (const r of runs) note(r.describe());
}

/** The models table: a row per model and mode, ours with min/max, then each peer and ours/peer. */
async function modelTable(args: Args): Promise<Row[]> {
  const soft = gpu().isSoftware;
  const size = num(args, 'image-size', soft ? 32 : 224), batch = num(args, 'batch-size', soft ? 8 : 32);
  if (soft && (args['image-size'] === undefined || args['batch-size'] === undefined)) {
    note(`software adapter (${gpu().info.description || gpu().info.device}): default --image-size 32 --batch-size 8 (224 and 32 on a GPU)`);
  }
  const o = steps(args, soft ? 3 : 5);
  const names = args.model === undefined || args.model === 'all' ? Object.keys(MODELS) : String(args.model).split(',');
  const mode = typeof args.mode === 'string' ? args.mode : 'both';
  if (!['train', 'infer', 'both'].includes(mode)) throw new Error(`--mode ${mode}: train, infer or both`);
  const modes: Mode[] = mode === 'both' ? ['train', 'infer'] : [mode as Mode];
  const cases: ModelCase[] = [];
  const rows: Row[] = [];
  loadNote('at the start');
  for (const model of names) {
    const config = configFor(model, size, num(args, 'channels', 3), num(args, 'num-classes', 2));
    const t0 = performance.now();
    const t = await measure(model, config, batch, modes, o);
    note(`${model}: ${modes.map((m) => `${m} ${(t.get(m)!.median * 1e3).toFixed(0)} ms/step`).join(', ')} (${((performance.now() - t0) / 1e3).toFixed(0)} s with warm-up)`);
    for (const m of modes) {
      const s = t.get(m)!;
      const c: ModelCase = { id: `${model} ${m}`, model, mode: m, config, batch };
      cases.push(c);
      rows.push({ name: c.id, input: `${batch}x${config.channels}x${config.imageSize}x${config.imageSize}`, img_s: batch / s.median, min_img_s: batch / s.max, max_img_s: batch / s.min, gpu_ms: s.gpu ? s.gpu.median * 1e3 : null, load: load() });
    }
  }
  const peers = await runPeers(wantedPeers(args.peers), (p) => cases.map((c) => peerCase(c, o, p)).filter((c): c is PeerCase => c !== null), peerOptions(args));
  reportPeers(peers);
  for (const [i, r] of rows.entries()) peerColumns(r, peers, cases[i].id, batch, { wall: Number(r.img_s) }, 'img_s');
  loadNote('at the end');
  return rows;
}

/** The issue's targets, ratios from one run: ours / TF.js-WebGPU (and ours / PyTorch). */
async function targetTable(args: Args): Promise<Row[]> {
  const o = steps(args, 5);
  const { run: matmul } = await import('./matmul.js');
  loadNote('at the start');
  const mm = (await matmul({ sizes: '1024' })).find((r) => r.name === '1024')!;
  const ours: Row[] = [{ name: 'matmul 1024', unit: 'GFLOP/s', ours: mm.gflops, min: mm.min_gflops, max: mm.max_gflops, clock: mm.clock, wall: mm.wall_gflops, load: load() }];
  const lenets: ModelCase[] = [
    { id: 'lenet 224x224x3 b32 train', model: 'lenet', mode: 'train', config: configFor('lenet', 224, 3, 2), batch: 32 },
    { id: 'lenet 28x28x1 b256 train', model: 'lenet', mode: 'train', config: configFor('lenet', 28, 1, 10), batch: 256 },
  ];
  for (const c of lenets) {
    const t = (await measure(c.model, c.config, c.batch, ['train'], o)).get('train')!;
    ours.push({ name: c.id, unit: 'images/s', ours: c.batch / t.median, min: c.batch / t.max, max: c.batch / t.min, clock: t.clock, wall: c.batch / t.wall.median, load: load() });
  }
  const peers = await runPeers(wantedPeers(args.peers), (p) => [matmulCase(1024, o.runs), ...lenets.map((c) => peerCase(c, o, p)!)], peerOptions(args));
  reportPeers(peers);
  const ids = ['matmul 1024', ...lenets.map((c) => c.id)], work = [(2 * 1024 ** 3) / 1e9, 32, 256], targets = [2, 10, 5];
  const rows = ours.map((r, i) => {
    const { load: l, ...row } = r;
    peerColumns(row, peers, ids[i], work[i], { wall: Number(r.wall), gpu: r.clock === 'gpu' ? Number(r.ours) : null });
    // met: on every clock both sides have (wall, and GPU where both time with it)
    const xs = [row.x_tfjs, row.x_tfjs_gpu].filter((x): x is number => typeof x === 'number');
    return { ...row, target: `>= ${targets[i]}x TF.js`, met: xs.length ? (Math.min(...xs) >= targets[i] ? 'yes' : 'no') : '-', load: l };
  });
  loadNote('at the end');
  return rows;
}

export async function run(args: Args): Promise<Row[]> {
  if (args.targets) return targetTable(args);
  if (args.kernels) {
    const { rows, peers } = await kernelTable(wantedPeers(args.peers), { ...peerOptions(args), runs: num(args, 'runs', 5) });
    reportPeers(peers);
    return rows;
  }
  return modelTable(args);
}
