// Headless Chromium for the browser tests: Debian's `chromium` (apt) driven by
// playwright-core, never a downloaded browser. Without it the tests skip with the reason,
// except under CI=true, where a browser that cannot start fails them.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A started browser, or why there is none (throws under CI). */
export async function launchChromium(): Promise<{ browser: Browser | null; reason: string }> {
  try {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium, or npm run setup)`);
    return { browser: await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] }), reason: '' };
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
