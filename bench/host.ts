// Host cost of a training step: on Dawn's null backend (main.ts opens it for this part),
// which accepts every command and runs none, a step's wall time is the host's share of a
// step on a GPU: JS, bind groups, params, Dawn's validation. Per model: dispatches and
// submits per step, host ms per step (median after warm-up) with the batch upload timed
// apart, host µs per dispatch (wall time, and the process's CPU time, which a busy
// machine's preemption does not inflate), peak live and peak pooled bytes in a step (no
// readback).
// Warm-up runs at least `--warmup` steps and at least `--warmup-s` seconds (V8 compiles the
// step's JS with its optimising tier only after some hundreds of calls: a step is 2x slower
// before, and a training run takes thousands).
//
//   npm run bench -- host [--model all|NAME|a,b] [--image-size 224] [--batch-size 32]
//     [--steps 30] [--warmup 3] [--warmup-s 3] [--runs 3] [--json]
// Each model runs in `--runs` processes; its row is the one with the median µs per
// dispatch, with the range over the runs.
//     [--encode-only]
// Where the null backend's limits (256 MiB buffers) are too small for a model at the
// batch, the row says so and uses the largest batch that fits (halving), never another
// dispatch sequence (no micro-batches). The null backend holds at most 512 MiB of buffers
// in all, less than the parameters, gradients and Adam moments of the DNN at 224, VGG16 or
// ViT-B/16: a model that fits at no batch is measured encode-only instead (as with
// --encode-only for all): on the Vulkan adapter (lavapipe here) opened with WebGPU's
// default limits (the null backend's) and the GPU kernel set, so with the same dispatch
// sequence, and with every command buffer finished (Dawn validates it) and then dropped
// instead of submitted: no kernel runs, nothing is translated for the driver, and the
// buffers are never touched. The row says which way it was measured.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from '../src/engine/device.js';
import { Tensor, dispose, tidy } from '../src/engine/tensor.js';
import { pace, resetPeaks, stats, sync } from '../src/engine/runtime.js';
import { Metrics } from '../src/autograd/metrics.js';
import { manualSeed } from '../src/nn/init.js';
import { MODELS, modelSpec } from '../src/models/index.js';
import { Adam } from '../src/optim/index.js';
import { trainStep } from '../src/models/step.js';
import { stats as summary } from './stats.js';
import { configFor, randomBatch } from './train.js';
import type { Row } from './util.js';

type Args = Record<string, string | boolean>;
const num = (args: Args, k: string, d: number) => (typeof args[k] === 'string' ? Number(args[k]) : d);
const MB = (b: number) => b / 2 ** 20;

interface HostRow extends Row {
  where: 'null' | 'encode-only';
  batch: number;
  dispatches: number;
  submits: number;
  step_ms: number;
  upload_ms: number;
  us_per_dispatch: number;
  cpu_us_per_dispatch: number;
  peak_live_mb: number;
  peak_pooled_mb: number;
  pooled_over_live: number;
  bind_groups_per_step: number;
  note: string;
}

/**
 * Encode-only: command buffers are finished and dropped, never submitted, and writes from
 * the queue are dropped while steps are timed (returns the function that restores them,
 * for timing the upload as it would run).
 */
function dropSubmits(): () => void {
  const queue = gpu().device.queue as { submit: GPUQueue['submit']; writeBuffer: GPUQueue['writeBuffer'] };
  queue.submit = () => undefined;
  const write = queue.writeBuffer;
  queue.writeBuffer = () => undefined;
  return () => void (queue.writeBuffer = write);
}

async function measure(model: string, size: number, batch: number, steps: number, warmup: number, warmupS: number, encodeOnly: boolean): Promise<Omit<HostRow, 'name' | 'note'>> {
  const restoreWrites = encodeOnly ? dropSubmits() : () => undefined;
  manualSeed(0);
  const config = configFor(model, size, 3, 2);
  const net = modelSpec(model).create(config);
  const opt = new Adam(net.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const metrics = new Metrics(config.numClasses);
  const data = randomBatch(config, batch);
  try {
    const step = () => tidy(() => void trainStep(net, data, opt, 1, metrics));
    const w0 = performance.now();
    for (let i = 0; i < warmup || performance.now() - w0 < warmupS * 1e3; i++) {
      step();
      await pace();
    }
    await sync();
    const times: number[] = [], cpus: number[] = [], uploads: number[] = [], uploadCpus: number[] = [];
    const timed = (fn: () => void, wall: number[], cpu: number[]) => {
      const c0 = process.cpuUsage(), t0 = performance.now();
      fn();
      const t = performance.now() - t0, c = process.cpuUsage(c0);
      wall.push(t);
      cpu.push((c.user + c.system) / 1e3);
    };
    const s0 = stats();
    resetPeaks();
    for (let i = 0; i < steps; i++) {
      timed(step, times, cpus);
      await pace();
    }
    const s1 = stats();
    await sync();
    restoreWrites();
    for (let i = 0; i < steps; i++) timed(() => dispose([Tensor.from(data.x, data.shape), Tensor.from(data.y, [batch], 'i32')]), uploads, uploadCpus);
    const dispatches = (s1.dispatches - s0.dispatches) / steps;
    const median = (xs: number[]) => summary(xs).median;
    const stepMs = median(times), uploadMs = median(uploads);
    // encode-only: the step's writes were dropped, so its time holds no upload to subtract
    const besides = (step: number, upload: number) => ((step - (encodeOnly ? 0 : upload)) * 1e3) / dispatches;
    return {
      where: encodeOnly ? 'encode-only' : 'null',
      batch,
      dispatches,
      submits: (s1.submits - s0.submits) / steps,
      step_ms: stepMs,
      upload_ms: uploadMs,
      us_per_dispatch: besides(stepMs, uploadMs),
      cpu_us_per_dispatch: besides(median(cpus), median(uploadCpus)),
      peak_live_mb: MB(s1.peakLiveBytes),
      peak_pooled_mb: MB(s1.peakPooledBytes),
      pooled_over_live: s1.peakPooledBytes / s1.peakLiveBytes,
      bind_groups_per_step: (s1.bindGroups - s0.bindGroups) / steps,
    };
  } finally {
    metrics.dispose();
    opt.dispose();
    net.dispose();
  }
}

/** One model at one batch in this process: its row, or its failure as the row's note. */
async function single(model: string, size: number, batch: number, steps: number, warmup: number, warmupS: number, encodeOnly: boolean): Promise<Row> {
  try {
    return { name: model, ...(await measure(model, size, batch, steps, warmup, warmupS, encodeOnly)), note: '' };
  } catch (e) {
    return { name: model, batch, note: `fails: ${(e as Error).message.split('\n')[0].slice(0, 160)}` };
  }
}

export async function run(args: Args): Promise<Row[]> {
  const encodeOnly = args['encode-only'] === true;
  if (gpu().info.backend !== 'null' && !encodeOnly) process.stderr.write(`note: not on the null backend (${gpu().info.backend}): figures include GPU time\n`);
  const which = typeof args.model === 'string' && args.model !== 'all' ? args.model.split(',') : Object.keys(MODELS);
  const size = num(args, 'image-size', 224), want = num(args, 'batch-size', 32);
  const steps = num(args, 'steps', 30), warmup = num(args, 'warmup', 3), warmupS = num(args, 'warmup-s', 3), runs = num(args, 'runs', 3);
  if (args.single) return [await single(which[0], size, want, steps, warmup, warmupS, encodeOnly)];
  // Each (model, batch) in a process of its own: after an out-of-memory error a device keeps invalid buffers.
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'bench-host-'));
  const child = (model: string, batch: number, encode: boolean): Row => {
    const out = join(dir, `${model}-${batch}-${encode}.json`);
    const flags = ['--model', model, '--batch-size', String(batch), '--image-size', String(size), '--steps', String(steps), '--warmup', String(warmup), '--warmup-s', String(warmupS), '--single', '--json-out', out];
    spawnSync(process.execPath, [process.argv[1], 'host', ...flags, ...(encode ? ['--encode-only'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
    return existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).rows[0] : { name: model, batch, note: 'fails: the process died' };
  };
  const fails = (r: Row) => String(r.note).startsWith('fails');
  for (const model of which) {
    let row: Row | null = null;
    const failed: string[] = [];
    for (const encode of encodeOnly ? [true] : [false, true]) {
      for (let batch = want; batch >= 1 && !row; batch = Math.floor(batch / 2)) {
        const r = child(model, batch, encode);
        if (fails(r)) failed.push(`${encode ? 'encode-only' : 'null backend'} at batch ${batch}: ${String(r.note).slice(7, 90)}`);
        else row = r;
      }
      if (row) {
        // more processes at the batch that fits: V8's tiering and the machine move a run by ~10%
        const more = Array.from({ length: runs - 1 }, () => child(model, row!.batch as number, encode)).filter((r) => !fails(r));
        const all = [row, ...more].sort((a, b) => (a.us_per_dispatch as number) - (b.us_per_dispatch as number));
        row = { ...all[Math.floor((all.length - 1) / 2)], us_range: `${(all[0].us_per_dispatch as number).toFixed(1)}-${(all.at(-1)!.us_per_dispatch as number).toFixed(1)}`, runs: all.length };
        const why = encode && !encodeOnly ? `encode-only: the null backend's 512 MiB holds it at no batch (${failed.filter((f) => f.startsWith('null')).at(-1)})` : '';
        const smaller = row.batch !== want ? `batch ${want} does not fit (${failed.find((f) => f.startsWith(encode ? 'encode' : 'null'))}); the largest that fits` : '';
        row.note = [why, smaller].filter(Boolean).join('; ');
        break;
      }
    }
    rows.push(row ?? { name: model, note: `fails at every batch down to 1 (${failed.at(-1)})` });
    process.stderr.write(`${model}: ${row ? `${row.us_per_dispatch} us/dispatch at batch ${row.batch} (${row.where})` : 'fails'}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  return rows;
}
