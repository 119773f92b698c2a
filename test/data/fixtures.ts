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

/**
 * A noisy image whose colour says its class (reddish for the first class, bluish for the
 * second), of a size that varies with the seed; the format from the file's extension.
 */
export async function classImage(path: string, reddish: boolean, seed: number): Promise<string> {
  const w = 40 + (seed % 7), h = 30 + (seed % 5);
  const px = new Uint8Array(w * h * 3);
  let s = seed * 7919 + 1;
  const [r, g, b] = reddish ? [190, 90, 60] : [60, 100, 190];
  for (let i = 0; i < w * h; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const n = (s % 60) - 30;
    px.set([Math.max(0, Math.min(255, r + n)), Math.max(0, Math.min(255, g + n)), Math.max(0, Math.min(255, b - n))], 3 * i);
  }
  return writeImage(path, px, w, h, 3);
}
