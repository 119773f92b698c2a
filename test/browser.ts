// Headless Chromium for the browser tests: Debian's `chromium` (apt) driven by
// playwright-core, never a downloaded browser, with WebGPU on its SwiftShader adapter
// (Vulkan on the CPU) where there is no GPU. Without it the tests skip with the reason,
// except under CI=true, where a browser that cannot start fails them.
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// WebGPU is behind --enable-unsafe-webgpu on Linux; SwiftShader is its adapter without a GPU.
// --no-sandbox: CI runs as root.
export const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'];

/** A started browser, or why there is none (throws under CI). */
export async function launchChromium(): Promise<{ browser: Browser | null; reason: string }> {
  try {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium, or npm run setup)`);
    return { browser: await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 }), reason: '' };
  } catch (e) {
    if (process.env.CI) throw e;
    const reason = `Chromium cannot start: ${(e as Error).message.split('\n')[0]}`;
    console.warn(`skipping browser tests: ${reason}`);
    return { browser: null, reason };
  }
}

/** Opens a local file; collects console errors, page errors and any request that leaves the disk. */
export async function openFile(browser: Browser, path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) errors.push(`network request: ${r.url()}`); });
  await page.goto(`file://${path}`, { waitUntil: 'load' });
  return { page, errors };
}

/** The text of every cell of a table, row by row (header row first). */
export function tableCells(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tr`, (rows) => rows.map((r) => Array.from(r.querySelectorAll('th,td'), (c) => (c.textContent ?? '').trim())));
}

/** Console errors and page errors, for the message of a failed check. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };

/** Serves folders under URL prefixes on 127.0.0.1 (a secure context: navigator.gpu exists there). */
export async function serveDirs(dirs: Record<string, string>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    for (const [prefix, dir] of Object.entries(dirs)) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
      if (file.startsWith(normalize(dir) + sep) && existsSync(file) && statSync(file).isFile()) {
        res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
        return res.end(readFileSync(file));
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
