// `serve` without a browser: what it serves, where it listens, and its bad inputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');

/** An IDX file: big-endian magic (unsigned bytes, ndims), sizes, data. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt8(8, 2);
  h.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, data]);
}

describe.skipIf(!existsSync(join(ROOT, 'dist/web/index.html')))('serve', () => {
  let dir = '', server: ChildProcess, url = '';
  const images = Uint8Array.from({ length: 5 * 28 * 28 }, (_, i) => i % 251);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'webgpu-dl-serve-'));
    writeFileSync(join(dir, 'w.safetensors'), 'not really a checkpoint: serve passes it through');
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx([5, 28, 28], images)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([5], Uint8Array.of(0, 1, 2, 3, 9)));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([2, 28, 28], images.subarray(0, 2 * 784)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([2], Uint8Array.of(4, 5)));
    server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--weights', join(dir, 'w.safetensors'), '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((ok, fail) => {
      let out = '';
      server.stdout!.on('data', (d) => (out += d) && /serving on (\S+)/.test(out) && ok(/serving on (\S+)/.exec(out)![1]));
      server.on('exit', (c) => fail(new Error(`serve exited with ${c}`)));
    });
  }, 60_000);

  afterAll(() => {
    server?.kill('SIGINT');
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and serves the page', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(url);
    expect(r.headers.get('content-type')).toContain('text/html');
    expect(await r.text()).toContain('<title>webgpu-dl</title>');
  });

  it('serves the --weights file as is, and the data set by split, limited', async () => {
    const w = await fetch(`${url}api/weights`);
    expect(w.headers.get('x-weights-name')).toBe('w.safetensors');
    expect(Buffer.from(await w.arrayBuffer()).equals(readFileSync(join(dir, 'w.safetensors')))).toBe(true);
    const info = await (await fetch(`${url}api/data`)).json();
    expect(info.train).toEqual({ n: 5, h: 28, w: 28 });
    expect(info.test.n).toBe(2);
    expect(info.classes).toHaveLength(10);
    const im = new Uint8Array(await (await fetch(`${url}api/data/train/images?limit=3`)).arrayBuffer());
    expect(im).toEqual(images.subarray(0, 3 * 784));
    expect([...new Uint8Array(await (await fetch(`${url}api/data/test/labels`)).arrayBuffer())]).toEqual([4, 5]);
  });

  it('serves nothing outside the page folder', async () => {
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/../../package.json', '/nope.js']) {
      expect((await fetch(`${url}${p.slice(1)}`)).status, p).toBe(404);
    }
  });

  it('a missing --weights or --data file is one clear line and exit 1', () => {
    for (const [flag, path] of [['--weights', join(dir, 'missing.safetensors')], ['--data', join(dir, 'nope')]]) {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', flag, path], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^error: ${flag} .*(not a file|not found)`))]);
    }
  });
});
