// Node only: .npy files.
import { readFileSync } from 'node:fs';
import { writeAll, writeFileAtomic } from './atomic.js';
import { bytesOf, type TensorData } from './dtype.js';
import { fail, npyHeader, parseNpy } from './npy.js';

export { parseNpy, serializeNpy } from './npy.js';

export function readNpy(path: string): TensorData {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    fail(path, `cannot read: ${(err as Error).message}`);
  }
  return parseNpy(buf, path);
}

/** Writes atomically (temp file, fsync, rename). */
export function writeNpy(path: string, t: TensorData): void {
  const header = npyHeader(t, path);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, header);
    writeAll(fd, bytesOf(t.data));
  });
}
