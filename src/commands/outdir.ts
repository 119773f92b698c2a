// The checkpoint folder (`train --out`): made and proven writable before training
// starts, cleared of temporary files left by killed writes, and guarded against a new
// run replacing an earlier run's checkpoints.

import { existsSync, mkdirSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.split(', ')[0].replace(/^\w+: /, '')}` : String(err.message ?? e);
}

/**
 * Creates `dir` (and missing parents, one mkdir each: a recursive mkdir spins on some
 * file systems, e.g. under /proc) and writes and removes a probe file there. Throws one
 * line naming the path and the reason.
 */
export function prepareOutDir(dir: string): void {
  const fail = (why: string): never => {
    throw new Error(`--out ${dir}: ${why}`);
  };
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      if (!['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) fail(`cannot use ${p} (${reason(e)})`);
      const up = dirname(p);
      if (up === p) fail(`cannot use ${p} (no such folder)`);
      missing.unshift(p);
      p = up;
      continue;
    }
    if (!st.isDirectory()) fail(`${p} is a file, not a directory`);
    break;
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(m).isDirectory()) fail(`cannot create ${m} (${reason(e)})`);
    }
  }
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    writeFileSync(probe, 'probe');
  } catch (e) {
    fail(`cannot write there (${reason(e)})`);
  }
  try {
    unlinkSync(probe);
  } catch (e) {
    fail(`cannot remove files there (${reason(e)})`);
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // someone else's live process
  }
}

/** Removes `<name>.tmp-<pid>-<hex>` files (src/io/atomic.ts) whose writer is no longer running; returns their names. */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = /\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove: leave it
    }
  }
  return removed;
}

/** Refuses to replace an earlier run's checkpoints unless resuming or told to overwrite. */
export function guardEarlierRun(paths: string[], o: { resume: boolean; overwrite?: boolean }): void {
  if (o.resume || o.overwrite) return;
  const found = paths.find((p) => existsSync(p));
  if (found) throw new Error(`${found} exists from an earlier run: --resume continues it, --overwrite replaces it, or choose another --out`);
}
