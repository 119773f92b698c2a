// Node only: safetensors files, read one tensor at a time and written atomically.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeAll, writeFileAtomic } from './atomic.js';
import { fail, headerLength, lazyFile, parseHeader, plan, encode, type Safetensors, type SafetensorsFile, type TensorsInput } from './safetensors.js';

export * from './safetensors.js';

export function readSafetensors(path: string): Safetensors {
  const file = openSafetensors(path);
  const tensors = new Map(file.keys().map((k) => [k, file.read(k)]));
  return { metadata: file.metadata, tensors };
}

/** Reads and checks only the header; `read(name)` then reads that tensor's bytes into a fresh array. */
export function openSafetensors(path: string): SafetensorsFile {
  const { n, size, header } = withFd(path, (fd) => {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) readAt(fd, prefix, 0, path);
    const n = headerLength(prefix, size, path);
    const header = new Uint8Array(n);
    readAt(fd, header, 8, path);
    return { n, size, header };
  });
  const { metadata, infos } = parseHeader(header, size - 8 - n, path);
  return lazyFile(path, metadata, infos, (t, into) => withFd(path, (fd) => readAt(fd, into, 8 + n + t.begin, path)));
}

function withFd<T>(path: string, fn: (fd: number) => T): T {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    return fn(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err; // already one of ours
    return fail(path, `cannot read: ${(err as Error).message}`);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function readAt(fd: number, into: Uint8Array, pos: number, path: string): void {
  for (let off = 0; off < into.length; ) {
    const got = readSync(fd, into, off, into.length - off, pos + off);
    if (got === 0) fail(path, `file truncated: bytes [${pos}, ${pos + into.length}) are past its end`);
    off += got;
  }
}

/** Writes atomically (temp file, fsync, rename), one tensor at a time. */
export function writeSafetensors(path: string, tensors: TensorsInput, metadata?: Record<string, string>): void {
  const { header, order } = plan(tensors, metadata, path);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, header);
    for (const [, t] of order) writeAll(fd, encode(t));
  });
}
