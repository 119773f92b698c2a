// TF.js peer for bench/ (child process; bench/peers/peer.ts is the other end): TF.js 4.x's
// WebGPU backend on the same Dawn adapter as the engine (the `webgpu` package, with the
// same WEBGPU_BACKEND / WEBGPU_ADAPTER / DAWN_TOGGLES choice as src/engine/device.ts).
// Packages: @tensorflow/tfjs (the union: tfjs-core's own Node bundle registers no gradients)
// and @tensorflow/tfjs-backend-webgpu. Cases: matmul {n}; train / infer of LeNet {config,
// batch, lr, clip}, written with tfjs-core ops in TF.js's own layout (NHWC, HWIO filters):
// a step is upload, forward, softmax cross-entropy, gradients, global-norm clipping, Adam,
// then the loss read back. Any other model is answered with an error ("LeNet only").
// Matmul is also timed on the GPU clock, with TF.js's own profiler (tf.time: timestamp
// queries around each kernel) when the adapter has them.

import { createRequire } from 'node:module';
import { create, globals } from 'webgpu';
import { stats } from '../stats.js';

interface T {
  shape: number[];
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
}
type Op = (...a: unknown[]) => T;
interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tidy<R>(fn: () => R): R;
  variable(t: T, trainable: boolean, name: string): T;
  variableGrads(f: () => T, vars: T[]): { value: T; grads: Record<string, T> };
  train: { adam(lr: number): { applyGradients(g: Record<string, T>): void; dispose(): void } };
  losses: { softmaxCrossEntropy: Op };
  randomNormal: Op; randomUniform: Op; tensor: Op; tensor1d: Op; oneHot: Op; scalar: Op; add: Op; mul: Op;
  div: Op; minimum: Op; sqrt: Op; sum: Op; square: Op; relu: Op; conv2d: Op; maxPool: Op; reshape: Op; matMul: Op; slice: Op;
  backend(): { device?: GPUDevice; supportTimestampQuery?: boolean };
  time(f: () => void): Promise<{ kernelMs: number | { error: string } }>;
}

interface Case {
  id: string;
  kind: string;
  runs: number;
  warmup: number;
  minSeconds?: number;
  n?: number;
  model?: string;
  config?: { imageSize: number; channels: number; numClasses: number };
  batch?: number;
  lr?: number;
  clip?: number;
}

const emit = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

/**
 * Seconds per call, as torch_peer.py: a matmul sample repeats the call until it lasts >= 20 ms;
 * at least `runs` samples, more (up to 50) until `minSeconds` have passed.
 */
async function timed(fn: (reps: number) => Promise<void>, runs: number, warmup: number, minSample = 0, minSeconds = 0) {
  const sample = async (reps: number) => {
    const t0 = performance.now();
    await fn(reps);
    return (performance.now() - t0) / 1e3 / reps;
  };
  let t = 0;
  for (let i = 0; i < Math.max(warmup, minSample ? 1 : 0); i++) t = await sample(1);
  const reps = minSample ? Math.max(1, Math.ceil(minSample / t)) : 1;
  const s: number[] = [];
  const start = performance.now();
  while (s.length < runs || ((performance.now() - start) / 1e3 < minSeconds && s.length < 50)) s.push(await sample(reps));
  return { ...stats(s), runs: s.length, reps };
}

/** Median, min and max of `runs` GPU-clock samples (seconds), after one warm-up; null where there is no GPU clock. */
async function gpuTimed(sample: () => Promise<number | null>, runs: number) {
  if ((await sample()) === null) return null;
  const s: number[] = [];
  for (let i = 0; i < runs; i++) s.push((await sample())!);
  return stats(s);
}

/** Reads one element: waits for everything queued before it. */
async function wait(tf: Tf, t: T): Promise<void> {
  const one = tf.slice(t, new Array(t.shape.length).fill(0), new Array(t.shape.length).fill(1));
  await one.data();
  one.dispose();
}

function matmulCase(tf: Tf, c: Case) {
  const n = c.n!;
  const a = tf.randomNormal([n, n]), b = tf.randomNormal([n, n]);
  return Object.assign(async (reps: number) => {
    const out = tf.tidy(() => {
      let y = tf.matMul(a, b);
      for (let r = 1; r < reps; r++) y = tf.matMul(a, b);
      return y;
    });
    await wait(tf, out);
    out.dispose();
  }, {
    /** Seconds of GPU time per call, from TF.js's timestamp queries; null where it has none. */
    gpu: async () => {
      if (!tf.backend().supportTimestampQuery) return null;
      const r = await tf.time(() => tf.tidy(() => void tf.matMul(a, b)));
      if (typeof r.kernelMs !== 'number') throw new Error(`tf.time: ${r.kernelMs.error}`);
      return r.kernelMs / 1e3;
    },
  });
}

/** LeNet (conv 5x5 6, pool, conv 5x5 16, pool, 120, 84, classes) with PyTorch's default init bounds. */
function lenet(tf: Tf, id: string, s: number, ch: number, k: number) {
  const side = Math.floor((Math.floor((s - 4) / 2) - 4) / 2);
  const flat = 16 * side * side;
  const shapes: [string, number[], number][] = [
    ['conv1.w', [5, 5, ch, 6], 25 * ch], ['conv1.b', [6], 25 * ch],
    ['conv2.w', [5, 5, 6, 16], 150], ['conv2.b', [16], 150],
    ['fc1.w', [flat, 120], flat], ['fc1.b', [120], flat],
    ['fc2.w', [120, 84], 120], ['fc2.b', [84], 120],
    ['fc3.w', [84, k], 84], ['fc3.b', [k], 84],
  ];
  const v = shapes.map(([name, shape, fanIn]) => tf.variable(tf.randomUniform(shape, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn)), true, `${id}.${name}`));
  const [w1, b1, w2, b2, f1, c1, f2, c2, f3, c3] = v;
  const forward = (x: T) => {
    let h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, w1, 1, 'valid'), b1)), 2, 2, 'valid');
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, w2, 1, 'valid'), b2)), 2, 2, 'valid');
    h = tf.reshape(h, [-1, flat]);
    h = tf.relu(tf.add(tf.matMul(h, f1), c1));
    h = tf.relu(tf.add(tf.matMul(h, f2), c2));
    return tf.add(tf.matMul(h, f3), c3);
  };
  return { vars: v, forward };
}

function modelCase(tf: Tf, c: Case) {
  if (c.model !== 'lenet') throw new Error('LeNet only');
  const { imageSize: s, channels: ch, numClasses: k } = c.config!;
  const n = c.batch!;
  const net = lenet(tf, c.id, s, ch, k);
  const xh = Float32Array.from({ length: n * s * s * ch }, () => Math.random() * 2 - 1);
  const yh = Int32Array.from({ length: n }, () => Math.floor(Math.random() * k));
  const input = () => tf.tensor(xh, [n, s, s, ch]);
  if (c.kind === 'infer') {
    return async () => {
      const logits = tf.tidy(() => net.forward(input()));
      await logits.data();
      logits.dispose();
    };
  }
  const opt = tf.train.adam(c.lr ?? 1e-3);
  const clip = c.clip ?? 1;
  return async () => {
    const loss = tf.tidy(() => {
      const y = tf.oneHot(tf.tensor1d(yh, 'int32'), k);
      const x = input();
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.forward(x)), net.vars);
      let g = grads;
      if (clip > 0) {
        // NOTE: pairwise adds, not tf.addN: TF.js's AddN binds one buffer per input, and more
        // than 7 exceed WebGPU's default 8 storage buffers per stage (an invalid pipeline).
        const norm = tf.sqrt(Object.values(grads).map((t) => tf.sum(tf.square(t))).reduce((a, b) => tf.add(a, b)));
        const scale = tf.minimum(tf.scalar(1), tf.div(tf.scalar(clip), tf.add(norm, tf.scalar(1e-6))));
        g = Object.fromEntries(Object.entries(grads).map(([name, t]) => [name, tf.mul(t, scale)]));
      }
      opt.applyGradients(g);
      return value;
    });
    await loss.data();
    loss.dispose();
  };
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const d of process.stdin) chunks.push(d as Buffer);
  const req = JSON.parse(Buffer.concat(chunks).toString()) as { cases: Case[] };
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const flags: string[] = [];
  if (process.env.WEBGPU_BACKEND) flags.push(`backend=${process.env.WEBGPU_BACKEND}`);
  if (process.env.WEBGPU_ADAPTER) flags.push(`adapter=${process.env.WEBGPU_ADAPTER}`);
  if (process.env.DAWN_TOGGLES) flags.push(`enable-dawn-features=${process.env.DAWN_TOGGLES}`);
  flags.push('disable-dawn-features=timestamp_quantization'); // as src/engine/device.ts
  Object.assign(globalThis, globals);
  const gpu = create(flags);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const require = createRequire(process.env.TFJS_REQUIRE_FROM ?? import.meta.url); // set by peer.ts
  const tf = require('@tensorflow/tfjs') as Tf;
  require('@tensorflow/tfjs-backend-webgpu');
  const version = (require('@tensorflow/tfjs-core/package.json') as { version: string }).version;
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not open its WebGPU backend');
  await tf.ready();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  // A WebGPU error (an invalid pipeline, say) means work was skipped: that case fails, untimed.
  const errors: string[] = [];
  tf.backend().device?.addEventListener('uncapturederror', (ev) => errors.push((ev as GPUUncapturedErrorEvent).error.message.split('\n')[0]));
  emit({ type: 'info', tfjs: version, backend: 'webgpu', adapter: adapter ? `${adapter.info.description || adapter.info.device} (${adapter.info.vendor})` : 'unknown' });
  for (const c of req.cases) {
    try {
      errors.length = 0;
      const fn = c.kind === 'matmul' ? matmulCase(tf, c) : modelCase(tf, c);
      const t = await timed(fn, c.runs, c.warmup, c.kind === 'matmul' ? 0.02 : 0, c.minSeconds ?? 0);
      const gpu = 'gpu' in fn ? await gpuTimed(fn.gpu, c.runs) : null;
      if (errors.length) throw new Error(`WebGPU error: ${errors[0]}`);
      emit({ type: 'result', id: c.id, ...t, ...(gpu ? { gpu } : {}) });
    } catch (e) {
      emit({ type: 'error', id: c.id, message: (e as Error).message.split('\n')[0] });
    }
  }
  emit({ type: 'done' });
}

await main();
process.exit(0);
