// Atomic file writes: readers see the old file or the whole new one, never a partial one.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

/**
 * Calls `write(fd)` on a temp file beside `path`, fsyncs it and renames it over `path`.
 * On any error the temp file is removed and an Error naming `path` is thrown.
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx');
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (err) {
    try {
      if (fd >= 0) closeSync(fd);
      unlinkSync(tmp);
    } catch {
      // The temp file was never created, or is already gone.
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`${path}: write failed: ${why}`, { cause: err });
  }
}

/** Writes all of `bytes` at the fd's current position (writeSync may write less than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
}
