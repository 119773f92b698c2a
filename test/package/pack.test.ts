// The package as a user gets it: `npm pack`, installed into a fresh project (from
// npm's cache where it can, the registry for the rest), type-checked against the shipped
// .d.ts, and a 3-step LeNet training script run through `import ... from 'webgpu-dl'`.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gpuAvailable } from '../gpu.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const hasGpu = await gpuAvailable();

const SCRIPT = `
import { initDevice, destroyDevice, tidy, pace, nn, optim, models, ops, Tensor, Rng } from 'webgpu-dl';

await initDevice();
nn.manualSeed(0);
const model = models.createModel('lenet', { imageSize: 28, channels: 1, numClasses: 10 });
const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
const rng = new Rng(1);
const x = Tensor.from(Float32Array.from({ length: 16 * 28 * 28 }, () => rng.uniform(-1, 1)), [16, 1, 28, 28]).keep();
const y = Tensor.from(Int32Array.from({ length: 16 }, (_, i) => i % 10), [16]).keep();
const losses: number[] = [];
for (let step = 0; step < 3; step++) {
  const loss = tidy(() => {
    const l = ops.crossEntropy(model.forward(x), y);
    ops.backward(l);
    opt.step();
    opt.zeroGrad();
    return l;
  });
  losses.push(await loss.item());
  loss.dispose();
  await pace();
}
const keys: string[] = [...model.stateDict().keys()];
console.log(JSON.stringify({ losses, keys }));
model.dispose();
destroyDevice();
`;

describe('the packed library in a fresh project', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'webgpu-dl-pack-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ships dist and its types, not tests, fixtures or bench', () => {
    const files = (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT, encoding: 'utf8' })) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/browser.d.ts');
    expect(files.filter((f) => /^(test|bench|src|scripts)\//.test(f) || f.endsWith('.map'))).toEqual([]);
  });

  it.skipIf(!hasGpu)('installs, type-checks and trains LeNet for 3 steps through the package name', () => {
    if (!existsSync(join(ROOT, 'dist/index.d.ts'))) execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: ROOT });
    execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: ROOT });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const app = join(dir, 'app');
    execFileSync('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(dir, tgz)], { cwd: app, stdio: 'pipe' });
    writeFileSync(join(app, 'train.ts'), SCRIPT);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: [], outDir: 'out' },
      files: ['train.ts'],
    }));
    // skipLibCheck off: the shipped .d.ts themselves must check (with @webgpu/types, a dependency).
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, stdio: 'pipe' });
    const out = execFileSync(process.execPath, ['out/train.js'], { cwd: app, encoding: 'utf8', env: { ...process.env } });
    const { losses, keys } = JSON.parse(out.trim().split('\n').at(-1)!) as { losses: number[]; keys: string[] };
    expect(losses).toHaveLength(3);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(losses[2]).not.toBe(losses[0]);
    expect(keys).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
  }, 240_000);
});
