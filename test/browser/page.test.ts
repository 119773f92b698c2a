// The page end to end in Chromium, served by `node dist/cli.js serve`: the served checkpoint
// loads, a dropped photo gets the probabilities `predict --json` gives for the same file,
// LeNet trains 30 steps on Fashion-MNIST in the tab with a falling loss, its downloaded
// checkpoint is read by the CLI's `eval` and `predict` (and classifies in the page as in the
// CLI), LeNet trains on a picked folder of class folders that `eval` then reads, and the page
// says so clearly where WebGPU is missing. Screenshots go to tmp/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { createModel } from '../../src/models/index.js';
import { manualSeed } from '../../src/nn/init.js';
import { saveCheckpoint } from '../../src/io/checkpoint_file.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors_file.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { gpuAvailable } from '../gpu.js';
import { classImage } from '../data/fixtures.js';
import { collectErrors, launchChromium } from '../browser.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const SHOTS = join(ROOT, 'tmp');
const hasGpu = await gpuAvailable();
const hasData = existsSync(FASHION_MNIST_DIR);
const browser = hasGpu ? (await launchChromium()).browser : null;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const predict = (weights: string, img: string) => JSON.parse(cli(['predict', '--weights', weights, '--json', img]).trim()) as { probs: number[] };

/** A photo-like PNG: smooth colour gradients, a disc and noise, not square (the page resizes it). */
async function photo(path: string): Promise<void> {
  const w = 61, h = 45;
  const px = Buffer.alloc(w * h * 3);
  let s = 12345;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const disc = (x - 30) ** 2 + (y - 22) ** 2 < 150 ? 120 : 0;
    const i = 3 * (y * w + x);
    px[i] = Math.min(255, 4 * x + disc);
    px[i + 1] = Math.min(255, 5 * y + (s % 40));
    px[i + 2] = Math.min(255, 200 - 2 * x + disc / 2);
  }
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
}

/** A noisy image whose colour says its class. */
const colourImage = (path: string, cls: 'red' | 'blue', seed: number) => classImage(path, cls === 'red', seed);

/** Drops files onto the page's drop zone as a user's drag and drop does (a DataTransfer of Files). */
async function dropFiles(page: Page, files: string[]): Promise<void> {
  const payload = files.map((f) => ({ name: f.split('/').at(-1)!, b64: readFileSync(f).toString('base64') }));
  await page.evaluate((fs) => {
    const dt = new DataTransfer();
    for (const f of fs) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, payload);
}

async function shownProbs(page: Page, file: string, count: number): Promise<number[]> {
  await page.waitForFunction((n) => document.querySelectorAll('.result').length >= n, count, { timeout: 120_000 });
  return JSON.parse((await page.locator(`.result[data-file="${file}"]`).first().getAttribute('data-probs'))!);
}

function expectSame(got: number[], want: number[]): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `class ${i}: page ${got[i]}, predict ${want[i]}`).toBeLessThanOrEqual(1e-3);
}

describe.skipIf(!browser || !hasData)('the page in Chromium', () => {
  let dir = '', server: ChildProcess, url = '', page: Page, errors: string[] = [];
  const served = () => join(dir, 'served.safetensors');
  const img = () => join(dir, 'photo.png');

  beforeAll(async () => {
    expect(existsSync(join(ROOT, 'dist/web/index.html')), 'build the page first: npm run build:web').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'webgpu-dl-page-'));
    mkdirSync(SHOTS, { recursive: true });
    await photo(img());
    // The served weights: an untrained LeNet for Fashion-MNIST, as `train` would label it.
    manualSeed(3);
    const m = createModel('lenet', { imageSize: 28, channels: 1, numClasses: 10 });
    await saveCheckpoint(served(), m, { model: 'lenet', config: { imageSize: 28, channels: 1, numClasses: 10 }, classes: FASHION_MNIST_CLASSES, mean: [0.5], std: [0.5] });
    m.dispose();
    server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--weights', served()], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((ok, fail) => {
      let out = '';
      server.stdout!.on('data', (d) => {
        out += d;
        const m = /serving on (http:\/\/\S+)/.exec(out);
        if (m) ok(m[1]);
      });
      server.on('exit', (code) => fail(new Error(`serve exited with ${code}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    errors = collectErrors(page);
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60_000 });
  }, 300_000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    server?.kill('SIGINT');
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens WebGPU, shows the adapter and loads the served checkpoint', async () => {
    expect(await page.evaluate(() => document.body.dataset.ready), errors.join('\n')).toBe('true');
    expect(await page.locator('#adapter-name').textContent()).not.toBe('');
    expect(await page.locator('#adapter-features').textContent()).toMatch(/\w/);
    expect(await page.locator('#weights-status').getAttribute('data-model')).toBe('lenet');
  });

  it('classifies a dropped photo with the probabilities of `predict --json`', async () => {
    await dropFiles(page, [img()]);
    expectSame(await shownProbs(page, 'photo.png', 1), predict(served(), img()).probs);
    await page.screenshot({ path: join(SHOTS, 'page-classify.png'), fullPage: true });
  });

  let trained = '';
  it('trains LeNet 30 steps in the tab with a falling loss, then downloads a checkpoint the CLI reads', async () => {
    await page.click('nav button[data-tab="train"]');
    await page.fill('#train-limit', String(30 * 64));
    await page.fill('#test-limit', '500');
    await page.fill('#batch', '64');
    await page.click('#train-start');
    await page.waitForFunction(() => document.getElementById('progress-text')!.dataset.done, null, { timeout: 240_000 });
    expect(await page.locator('#progress-text').getAttribute('data-done')).toBe('30');
    const losses = JSON.parse((await page.locator('#loss-chart').getAttribute('data-losses'))!) as number[];
    expect(losses.length).toBe(6); // every 5 steps
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]);
    const recall = JSON.parse((await page.locator('#pr-chart').getAttribute('data-recall'))!) as number[];
    expect(recall.length).toBe(10);
    expect(await page.locator('#confusion-chart svg').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'page-train.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    trained = join(dir, download.suggestedFilename());
    await download.saveAs(trained);
    const ev = JSON.parse(cli(['eval', '--weights', trained, '--data', 'fashion-mnist', '--json']).trim()) as { accuracy: number; classes: string[] };
    expect(ev.classes).toEqual(FASHION_MNIST_CLASSES);
    expect(ev.accuracy).toBeGreaterThan(0.3); // 10 classes: chance is 0.1
    expect(predict(trained, img()).probs.length).toBe(10);
  }, 300_000);

  it('classifies with a dropped checkpoint as the CLI does with the same file', async () => {
    expect(trained).not.toBe('');
    await page.click('nav button[data-tab="classify"]');
    await dropFiles(page, [trained]);
    await page.waitForFunction(() => document.getElementById('weights-status')!.textContent!.startsWith('lenet.safetensors'));
    await dropFiles(page, [img()]);
    const probs = await shownProbs(page, 'photo.png', 2);
    expectSame(probs, predict(trained, img()).probs);
    expect(errors).toEqual([]);
  });

  it('classifies with foreign weights (a bare state dict) and the architecture chosen in the page, as predict --model does', async () => {
    const foreign = join(dir, 'foreign.safetensors');
    const st = readSafetensors(trained);
    writeSafetensors(foreign, st.tensors); // no metadata: classes 0..9, the model's own normalisation
    await page.selectOption('#model-select', 'lenet');
    await dropFiles(page, [foreign]);
    await page.waitForFunction(() => document.getElementById('weights-status')!.textContent!.startsWith('foreign.safetensors'));
    await dropFiles(page, [img()]);
    const probs = await shownProbs(page, 'photo.png', 3);
    expectSame(probs, JSON.parse(cli(['predict', '--weights', foreign, '--model', 'lenet', '--json', img()]).trim()).probs);
    expect(errors).toEqual([]);
  });

  it('trains on a picked folder of images (train/ and val/ of class folders) that the CLI then evaluates', async () => {
    const data = join(dir, 'colours');
    for (const [split, n] of [['train', 16], ['val', 6]] as const) {
      for (const [k, cls] of (['blue', 'red'] as const).entries()) {
        mkdirSync(join(data, split, cls), { recursive: true });
        for (let i = 0; i < n; i++) await colourImage(join(data, split, cls, `${i}.png`), cls, 100 * k + i + (split === 'val' ? 50 : 0));
      }
    }
    await page.click('nav button[data-tab="train"]');
    await page.setInputFiles('#folder-input', data);
    await page.fill('#image-size', '32');
    await page.fill('#epochs', '4');
    await page.fill('#batch', '8');
    await page.fill('#lr', '0.003');
    await page.click('#train-start');
    await page.waitForFunction(() => document.getElementById('progress-text')!.dataset.done, null, { timeout: 240_000 });
    expect(await page.locator('#progress-text').getAttribute('data-done')).toBe('16'); // 32 images, batch 8, 4 epochs
    expect(await page.locator('#data-status').textContent()).toContain('32 training and 12 held-out images (val/)');
    const losses = JSON.parse((await page.locator('#loss-chart').getAttribute('data-losses'))!) as number[];
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    expect(Number(await page.locator('#pr-chart').getAttribute('data-accuracy'))).toBeGreaterThanOrEqual(0.9);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const ck = join(dir, 'colours.safetensors');
    await download.saveAs(ck);
    const ev = JSON.parse(cli(['eval', '--weights', ck, '--data', data, '--json']).trim()) as { accuracy: number; classes: string[]; count: number };
    expect(ev.classes).toEqual(['blue', 'red']);
    expect(ev.count).toBe(12);
    expect(ev.accuracy).toBeGreaterThanOrEqual(0.9);
    await page.click('#use-served');
  }, 300_000);

  it('the library bundle (dist/web/lib/webgpu-dl.js) imports and computes in a page without a bundler', async () => {
    // a string, so that vitest does not rewrite the page's import()
    const out = await page.evaluate(`(async () => {
      const lib = await import('${url}lib/webgpu-dl.js');
      await lib.initDevice(); // its own device (a second copy of the engine beside the page's)
      const y = lib.ops.matmul(lib.Tensor.from([1, 2, 3, 4], [2, 2]), lib.Tensor.from([5, 6, 7, 8], [2, 2]));
      return Array.from(await y.read());
    })()`);
    expect(out).toEqual([19, 22, 43, 50]);
  });

  it('says clearly that WebGPU is missing where navigator.gpu is absent', async () => {
    const p = await browser!.newPage();
    await p.addInitScript(() => delete (Navigator.prototype as { gpu?: unknown }).gpu);
    await p.goto(url);
    await p.waitForFunction(() => document.body.dataset.ready, null, { timeout: 30_000 });
    expect(await p.locator('#no-webgpu').isVisible()).toBe(true);
    expect(await p.locator('#no-webgpu').textContent()).toContain('WebGPU is not available');
    await p.close();
  });
});
