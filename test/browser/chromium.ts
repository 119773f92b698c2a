// Debian's Chromium (apt `chromium`, installed by scripts/setup.sh) driven by playwright-core,
// with WebGPU on its SwiftShader adapter. Without Chromium the browser suites skip, except
// under CI=true, where they fail (as the GPU suites do without an adapter).
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// WebGPU is behind --enable-unsafe-webgpu on Linux; SwiftShader (Vulkan on the CPU) is the
// adapter when there is no GPU. --no-sandbox: CI runs as root.
export const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader', '--no-sandbox', '--headless=new'];

/** The browser, or null (the suites skip) when it cannot start outside CI. */
export async function launchChromium(): Promise<Browser | null> {
  try {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (Debian: apt-get install chromium; npm run setup does it)`);
    return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (e) {
    if (process.env.CI) throw new Error(`Chromium cannot start: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** Console errors and page errors, for the message of a failed wait. */
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
