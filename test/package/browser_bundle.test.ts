// The browser entry must reach nothing Node-only: Vite bundles src/browser.ts for the browser
// and every import it resolves is recorded; a Node built-in, Dawn's `webgpu` or `sharp`
// anywhere in the graph fails the test, and so does a Node global in the bundled code.
import { describe, expect, it } from 'vitest';
import { builtinModules } from 'node:module';
import { resolve } from 'node:path';
import { build, type Plugin, type Rollup } from 'vite';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE_ONLY = new Set(['webgpu', 'sharp', 'commander', ...builtinModules]);

const isNodeOnly = (spec: string) => spec.startsWith('node:') || NODE_ONLY.has(spec.split('/')[0]);

async function bundle(entry: string): Promise<{ imports: string[]; files: string[]; code: string }> {
  const imports: string[] = [];
  const files = new Set<string>();
  const record: Plugin = {
    name: 'record-imports',
    enforce: 'pre',
    resolveId(source, importer) {
      if (importer) imports.push(`${source} <- ${importer.replace(`${ROOT}/`, '')}`);
      return isNodeOnly(source) ? { id: source, external: true } : null; // recorded, not bundled
    },
    load(id) {
      files.add(id.replace(`${ROOT}/`, ''));
      return null;
    },
  };
  const out = (await build({
    configFile: false, logLevel: 'silent', root: ROOT, plugins: [record],
    build: { write: false, minify: false, target: 'es2022', lib: { entry: resolve(ROOT, entry), formats: ['es'], fileName: () => 'bundle.js' } },
  })) as Rollup.RollupOutput[];
  const code = out.flatMap((o) => o.output).map((c) => ('code' in c ? c.code : '')).join('\n');
  return { imports, files: [...files], code };
}

describe('the browser entry and the page', () => {
  it.each(['src/browser.ts', 'web/main.ts'])('%s reaches no Node module, Dawn or sharp, and uses no Node globals', async (entry) => {
    const { imports, files, code } = await bundle(entry);
    const bad = imports.filter((i) => isNodeOnly(i.split(' <- ')[0]));
    expect(bad).toEqual([]);
    expect(files.some((f) => f.endsWith('src/engine/device.ts'))).toBe(true);
    expect(files.filter((f) => /node_gpu|_file\.ts|transforms\.ts|atomic\.ts|commands\//.test(f))).toEqual([]);
    expect(code.match(/\bprocess\.(env|platform|pid|exit)|\bBuffer\.|\brequire\(/g) ?? []).toEqual([]);
  }, 120_000);

  it('the check itself sees a Node-only import (the Node entry has several)', async () => {
    const { imports } = await bundle('src/index.ts');
    expect(imports.some((i) => i.startsWith('webgpu <-'))).toBe(true);
    expect(imports.some((i) => i.startsWith('node:fs <-'))).toBe(true);
  }, 120_000);
});
