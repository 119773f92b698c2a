// `serve`: the web page (dist/web, built by `npm run build:web`), the checkpoint named by
// --weights, and an IDX data set (Fashion-MNIST by default) for training in the tab.
//   GET /                           the page (and its assets)
//   GET /api/weights                the --weights file (404 when none)
//   GET /api/data                   { name, classes, train: { n, h, w }, test: { n, h, w } } (404 when none)
//   GET /api/data/<train|test>/<images|labels>?limit=N   the first N images (N*h*w bytes) or labels (N bytes)

import { createServer, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR, loadFashionMnist, type ImageArraySet } from '../data/idx.js';

export interface ServeOptions {
  port: number;
  host: string;
  weights?: string;
  data?: string;
  /** The built page; default dist/web beside this file's dist/. */
  root?: string;
}

export const WEB_ROOT = resolve(fileURLToPath(new URL('../web', import.meta.url)));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.map': 'application/json', '.ico': 'image/x-icon',
};

/** Starts the server; resolves once it listens (port 0 picks a free one: see `server.address()`). */
export async function serve(o: ServeOptions): Promise<Server> {
  const root = resolve(o.root ?? WEB_ROOT);
  if (!existsSync(join(root, 'index.html'))) throw new Error(`${root}: no index.html (build the page with \`npm run build:web\`)`);
  if (o.weights && (!existsSync(o.weights) || !statSync(o.weights).isFile())) throw new Error(`--weights ${o.weights}: not a file`);
  const dataDir = o.data ?? (existsSync(FASHION_MNIST_DIR) ? FASHION_MNIST_DIR : undefined);
  if (o.data && !existsSync(o.data)) throw new Error(`--data ${o.data}: not found`);
  let data: { train: ImageArraySet; test: ImageArraySet } | null = null;
  const loadData = () => (data ??= loadFashionMnist(dataDir));

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only');
      const path = decodeURIComponent(url.pathname);
      if (path === '/api/weights') {
        if (!o.weights) return send(res, 404, 'text/plain', 'no --weights given');
        res.setHeader('X-Weights-Name', basename(o.weights));
        return send(res, 200, 'application/octet-stream', readFileSync(o.weights));
      }
      if (path === '/api/data') {
        if (!dataDir) return send(res, 404, 'text/plain', 'no data set (install dataset-fashion-mnist or give --data)');
        const d = loadData();
        const shape = (s: ImageArraySet) => ({ n: s.n, h: s.h, w: s.w });
        return send(res, 200, 'application/json', JSON.stringify({ name: basename(dataDir), classes: d.train.classes, train: shape(d.train), test: shape(d.test) }));
      }
      const m = /^\/api\/data\/(train|test)\/(images|labels)$/.exec(path);
      if (m) {
        if (!dataDir) return send(res, 404, 'text/plain', 'no data set');
        const set = loadData()[m[1] as 'train' | 'test'];
        const limit = Math.min(set.n, Math.max(0, Number(url.searchParams.get('limit') ?? set.n) || set.n));
        const bytes = m[2] === 'images' ? set.images.subarray(0, limit * set.h * set.w) : set.labels.subarray(0, limit);
        return send(res, 200, 'application/octet-stream', bytes);
      }
      const file = normalize(join(root, path === '/' ? 'index.html' : path));
      if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return send(res, 404, 'text/plain', `not found: ${path}`);
      return send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file));
    } catch (e) {
      return send(res, 500, 'text/plain', (e as Error).message);
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(new Error(e.code === 'EADDRINUSE' ? `port ${o.port} on ${o.host} is in use (pick another with --port)` : e.message)));
    server.listen(o.port, o.host, ok);
  });
  return server;
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength, 'Cache-Control': 'no-store' });
  res.end(body);
}
