// Peers for bench/: other frameworks timing the same cases in a child process, so their
// threads and GPU devices never share our process. The protocol is JSON: the request
// ({ cases, ... }) on the child's stdin, one object a line on its stdout (an "info" line,
// then a "result" or "error" line per case, then "done"); bench/peers/torch_peer.py and
// bench/peers/tfjs_peer.ts are the two ends. A peer that cannot run is reported as absent
// with the reason, never replaced by a figure.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Stats } from '../stats.js';

export type PeerName = 'torch' | 'tfjs';
export const PEERS: readonly PeerName[] = ['torch', 'tfjs'];

export interface PeerCase {
  id: string;
  kind: 'matmul' | 'conv2d' | 'train' | 'infer';
  runs: number;
  warmup: number;
  /** Sample on (up to 50 samples) until this many seconds have passed. */
  minSeconds?: number;
  [k: string]: unknown;
}

export interface PeerTiming {
  median: number; // seconds per sample, wall clock (waited for)
  min: number;
  max: number;
  runs: number;
  /** The peer's own GPU clock, where it has one (TF.js: timestamp queries; PyTorch: CUDA events). */
  gpu?: Stats;
}

export class PeerRun {
  readonly results = new Map<string, PeerTiming | { error: string }>();
  info: Record<string, unknown> | null = null;
  constructor(readonly name: PeerName, public absent: string | null) {}

  /** work / median seconds (wall clock, or the peer's GPU clock), or null when the peer, this case or that clock did not run. */
  rate(id: string, work: number, clock: 'wall' | 'gpu' = 'wall'): number | null {
    const r = this.results.get(id);
    if (!r || !('median' in r)) return null;
    const t = clock === 'wall' ? r : r.gpu;
    return t ? work / t.median : null;
  }

  /** One line for the report: what ran (version, device) or why it did not. */
  describe(): string {
    if (this.absent) return `${this.name}: ${this.absent.startsWith('not run') ? this.absent : `absent (${this.absent})`}`;
    const errors = [...this.results].filter(([, r]) => 'error' in r).map(([id, r]) => `${id}: ${(r as { error: string }).error}`);
    return `${this.name}: ${Object.entries(this.info ?? {}).filter(([k]) => k !== 'type').map(([k, v]) => `${k} ${v}`).join(', ')}${errors.length ? `; failed: ${errors.join('; ')}` : ''}`;
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));
// The peers' sources: bench/peers (next to this file in a plain checkout, or ../../../bench/peers
// from dist-bench/bench/peers).
const SOURCES = [HERE, resolve(HERE, '../../../bench/peers')].find((d) => existsSync(join(d, 'torch_peer.py'))) ?? HERE;

/** The python with torch: $TORCH_PYTHON, else python3, else Debian's /usr/bin/python3. */
function findTorchPython(): { cmd: string; args: string[]; env: Record<string, string> } | { absent: string } {
  const tried: string[] = [];
  for (const cmd of [process.env.TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c)) {
    const r = spawnSync(cmd, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { cmd, args: [join(SOURCES, 'torch_peer.py')], env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' } };
    tried.push(`${cmd}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}`)}`);
  }
  return { absent: `no python with torch (${tried.join('; ')})` };
}

/**
 * TF.js needs @tensorflow/tfjs and @tensorflow/tfjs-backend-webgpu, kept out of the project's
 * dependencies (290 MB that tests and training never use): `npm run bench:peers` installs
 * them into bench/.peers; $TFJS_PATH names another such folder.
 */
function findTfjs(): { cmd: string; args: string[]; env: Record<string, string> } | { absent: string } {
  const folder = process.env.TFJS_PATH ?? 'bench/.peers';
  const from = [fileURLToPath(import.meta.url), join(resolve(folder), 'package.json')];
  const missing: string[] = [];
  for (const base of from) {
    const req = createRequire(base);
    missing.length = 0;
    for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu']) {
      try {
        req.resolve(pkg);
      } catch {
        missing.push(pkg);
      }
    }
    if (!missing.length) return { cmd: process.execPath, args: [join(HERE, 'tfjs_peer.js')], env: { TFJS_REQUIRE_FROM: base } };
  }
  return { absent: `${missing.join(' and ')} not installed (npm run bench:peers)` };
}

export interface PeerOptions {
  /** torch: "auto" (CUDA when there is one), "cpu" or "cuda". */
  device?: string;
  threads?: number;
  timeoutS?: number;
}

/** Runs `cases` in the peer's child process; cases that did not finish come back as errors. */
export async function runPeer(name: PeerName, cases: PeerCase[], o: PeerOptions = {}): Promise<PeerRun> {
  if (!cases.length) return new PeerRun(name, name === 'tfjs' ? 'not run: the TF.js peer has matmul and LeNet only' : 'not run: no case');
  const found = name === 'torch' ? findTorchPython() : findTfjs();
  if ('absent' in found) return new PeerRun(name, found.absent);
  const run = new PeerRun(name, null);
  const child = spawn(found.cmd, found.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...found.env } });
  let stderr = '';
  let pending = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const msg = JSON.parse(line) as Record<string, unknown> & { type: string; id?: string; message?: string } & PeerTiming;
      if (msg.type === 'info') run.info = msg;
      else if (msg.type === 'result') run.results.set(msg.id!, { median: msg.median, min: msg.min, max: msg.max, runs: msg.runs, ...(msg.gpu ? { gpu: msg.gpu } : {}) });
      else if (msg.type === 'error') run.results.set(msg.id!, { error: msg.message ?? 'failed' });
    }
  });
  const timeoutS = o.timeoutS ?? 1800;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1e3);
  const exit = new Promise<number | null>((res) => {
    child.on('error', () => res(-1));
    child.on('close', (code) => res(code));
  });
  child.stdin.on('error', () => {}); // a child that dies early closes its stdin
  child.stdin.end(JSON.stringify({ device: o.device ?? 'auto', threads: o.threads ?? null, cases }));
  const code = await exit;
  clearTimeout(timer);
  const why = code === null ? `killed after ${timeoutS} s` : `exit ${code}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`;
  if (!run.info) run.absent = `did not start (${why})`;
  else for (const c of cases) if (!run.results.has(c.id)) run.results.set(c.id, { error: `no result (${why})` });
  return run;
}

/** Every peer named in `--peers` (default: all; "none" for none). */
export function wantedPeers(arg: string | boolean | undefined): PeerName[] {
  if (arg === undefined || arg === true || arg === 'all') return [...PEERS];
  if (arg === false || arg === 'none') return [];
  const names = String(arg).split(',');
  for (const n of names) if (!(PEERS as readonly string[]).includes(n)) throw new Error(`--peers: unknown peer "${n}" (choose from ${PEERS.join(', ')}, all, none)`);
  return names as PeerName[];
}

/**
 * Adds each peer's rate for case `id` (`<peer>_<unit>`, or `<peer>` without a unit: work / its
 * median seconds) and our ratio to it (`x_<peer>`: ours / peer), wall clock against wall
 * clock, to `row`; null where the peer has no figure. Where both sides have a GPU clock,
 * `<peer>_gpu_<unit>` and `x_<peer>_gpu` compare those too.
 */
export function peerColumns(row: Record<string, string | number | null>, runs: readonly PeerRun[], id: string, work: number, ours: { wall: number; gpu?: number | null }, unit = ''): void {
  const col = (name: string) => (unit ? `${name}_${unit}` : name);
  for (const p of runs) {
    const r = p.rate(id, work);
    row[col(p.name)] = r;
    row[`x_${p.name}`] = r ? ours.wall / r : null;
    const g = ours.gpu ? p.rate(id, work, 'gpu') : null;
    if (g) {
      row[col(`${p.name}_gpu`)] = g;
      row[`x_${p.name}_gpu`] = ours.gpu! / g;
    }
  }
}
