// The op and gradient checks of test/browser/suite.ts, bundled by Vite and run in Chromium
// on its WebGPU adapter (SwiftShader here: maxComputeInvocationsPerWorkgroup 256, 10 storage
// buffers a stage, subgroup size 4, an empty description).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { build } from 'vite';
import type { Page } from 'playwright-core';
import { collectErrors, launchChromium, serveDirs } from '../browser.js';
import type { CaseResult } from './suite.js';

const ROOT = resolve(import.meta.dirname, '../..');
// LeNet's fixture by default; BROWSER_FIXTURES=all (or a comma list) runs more (all six: about 75 s on SwiftShader here).
const FIXTURES = process.env.BROWSER_FIXTURES === 'all' ? ['dnn', 'lenet', 'vgg16', 'resnet18', 'birnn', 'vit'] : (process.env.BROWSER_FIXTURES ?? 'lenet').split(',');
const { browser } = await launchChromium();

describe.skipIf(!browser)('ops in Chromium', () => {
  let dir = '', server: Server, page: Page, errors: string[] = [];
  let run: { adapter: Record<string, unknown>; results: CaseResult[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'webgpu-dl-suite-'));
    await build({
      configFile: false, logLevel: 'warn', root: ROOT,
      build: { outDir: dir, emptyOutDir: false, minify: false, target: 'es2022', lib: { entry: join(ROOT, 'test/browser/suite.ts'), formats: ['es'], fileName: () => 'suite.js' } },
    });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><link rel="icon" href="data:,"><script type="module" src="suite.js"></script>');
    const s = await serveDirs({ '/fixtures/': join(ROOT, 'test/fixtures/models'), '/': dir });
    server = s.server;
    page = await browser!.newPage();
    errors = collectErrors(page);
    await page.goto(`${s.url}/`);
    await page.waitForFunction(() => 'runSuites' in globalThis, null, { timeout: 30_000 });
    run = await page.evaluate(([u, f]) => (globalThis as unknown as { runSuites(u: string, f: string[]): Promise<typeof run> }).runSuites(u, f), [`${s.url}/fixtures`, FIXTURES] as const);
  }, 300_000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs on an adapter unlike lavapipe (SwiftShader: 256 invocations a workgroup, 10 storage buffers, no description) with no page errors', () => {
    expect(run.adapter.architecture, JSON.stringify(run.adapter)).toBe('swiftshader');
    expect(run.adapter.software).toBe(true);
    expect(run.adapter.limits).toMatchObject({ maxComputeInvocationsPerWorkgroup: 256, maxStorageBuffersPerShaderStage: 10, minStorageBufferOffsetAlignment: 256 });
    // the subgroup kernels run here with SwiftShader's subgroups of 4 (where it offers the feature)
    if ((run.adapter.features as string[]).includes('subgroups')) expect(run.adapter.subgroupSize).toBe(4);
    expect(errors).toEqual([]);
  });

  it('matmul, conv2d, pooling, softmax and cross-entropy match the references, forward and gradients', () => {
    const ops = run.results.filter((r) => !r.name.includes('fixture'));
    expect(ops.length).toBeGreaterThan(20);
    expect(ops.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error}`)).toEqual([]);
  });

  it.each(FIXTURES)('%s matches its PyTorch fixture: logits, gradients, three Adam steps', (name) => {
    const r = run.results.find((x) => x.name.startsWith(`${name} against`));
    expect(r, `no fixture case for ${name}`).toBeDefined();
    expect(r!.error ?? '').toBe('');
    expect(r!.ok).toBe(true);
  });
});
