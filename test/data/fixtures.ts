// Small images written with sharp into a temp dir, for the data tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'data-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** HWC uint8 pixels from f(x, y) -> channel values. */
export function pixels(w: number, h: number, c: number, f: (x: number, y: number) => number[]): Uint8Array {
  const px = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set(f(x, y), (y * w + x) * c);
  return px;
}

export const gradient = (x: number, y: number): number[] => [(x * 6) % 256, (y * 8) % 256, (x * 3 + y * 2) % 256];

export async function writeImage(path: string, px: Uint8Array, w: number, h: number, c: number): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  let img = sharp(px, { raw: { width: w, height: h, channels: c as 1 | 3 | 4 } });
  if (c === 1) img = img.toColourspace('b-w');
  const ext = path.split('.').pop()!.toLowerCase();
  if (ext === 'png') await img.png().toFile(path);
  else if (ext === 'webp') await img.webp({ lossless: true }).toFile(path);
  else if (ext === 'gif') await img.gif().toFile(path);
  else await img.jpeg({ quality: 95 }).toFile(path);
  return path;
}

export function touch(path: string, content: string | Uint8Array = ''): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

/** A file of pseudo-random bytes that no decoder accepts. */
export function corrupt(path: string): string {
  const bytes = Buffer.alloc(500);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 251;
  return touch(path, bytes);
}
