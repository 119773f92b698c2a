// The per-adapter table (src/engine/config.ts): made from the adapter and the kernel set,
// overridden and restored, made again with a new device; and the one splitting helper:
// runs cover the items, fit the binding limit, start aligned, and fail clearly.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { gpu } from '../../src/engine/device.js';
import { kernelSet, setKernelSet } from '../../src/engine/kernels.js';
import { config, fitRun, overrideConfig, splitToFit } from '../../src/engine/config.js';
import { useGpu, withConfig } from '../gpu.js';

const hasGpu = await useGpu();

describe.skipIf(!hasGpu)('per-adapter table', () => {
  it('comes from the adapter\'s limits and the kernel set', () => {
    const was = kernelSet();
    try {
      setKernelSet('cpu');
      const cpu = config();
      expect(cpu.maxBindingBytes).toBe(gpu().limits.maxStorageBufferBindingSize);
      expect(cpu.offsetAlign).toBe(gpu().limits.minStorageBufferOffsetAlignment);
      expect([cpu.elementsPerInvocation, cpu.poolRun, cpu.normMode, cpu.rowLanes, cpu.optim.tree]).toEqual([16, 32, 'row', 1, false]);
      setKernelSet('gpu');
      const g = config();
      expect([g.elementsPerInvocation, g.poolRun, g.normMode, g.rowLanes, g.optim.tree]).toEqual([1, 4, 'auto', 0, true]);
    } finally {
      setKernelSet(was === (gpu().isSoftware ? 'cpu' : 'gpu') ? null : was);
    }
  });

  it('overrides fields until restored, nested overrides included, and checks them', async () => {
    const before = { ...config() };
    await withConfig({ maxBindingBytes: 4096, poolRun: 8 }, async () => {
      expect([config().maxBindingBytes, config().poolRun]).toEqual([4096, 8]);
      await withConfig({ poolRun: 12 }, () => expect([config().maxBindingBytes, config().poolRun]).toEqual([4096, 12]));
      expect(config().poolRun).toBe(8);
    });
    expect(config()).toEqual(before);
    expect(() => overrideConfig({ poolRun: 6 })).toThrow(/poolRun must be a positive multiple of 4, got 6/);
    expect(() => overrideConfig({ rowLanes: 3 })).toThrow(/rowLanes must be 0 or a power of two up to 64/);
    expect(() => overrideConfig({ maxBindingBytes: 0 })).toThrow(/maxBindingBytes/);
    expect(() => overrideConfig({ offsetAlign: gpu().limits.minStorageBufferOffsetAlignment / 2 })).toThrow(/offsetAlign must be a multiple of this adapter's/);
    expect(config()).toEqual(before);
  });

  it('is made again, with what it holds for a device, when the device is replaced', () => {
    // in a process of its own: the suites share this one's device
    const script = `
      import { initDevice, destroyDevice } from './dist/engine/node_gpu.js';
      import { config } from './dist/engine/config.js';
      import { Tensor } from './dist/engine/tensor.js';
      import { matmul } from './dist/engine/shaders/matmul.js';
      const product = async () => {
        const a = Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
        const y = matmul(a, a); // binds the placeholder bias made for the device
        const r = Array.from(await y.read());
        a.dispose(); y.dispose();
        return r;
      };
      const g1 = await initDevice(), c1 = config(), p1 = await product();
      destroyDevice();
      const g2 = await initDevice(), c2 = config(), p2 = await product();
      destroyDevice();
      console.log(JSON.stringify({ newDevice: g1 !== g2, newTable: c1 !== c2, p1, p2 }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ newDevice: true, newTable: true, p1: [7, 10, 15, 22], p2: [7, 10, 15, 22] });
  });
});

describe.skipIf(!hasGpu)('splitToFit', () => {
  it('gives one run when the whole fits, else aligned runs that fit and cover every item', async () => {
    await withConfig({ maxBindingBytes: 1000, offsetAlign: 256 }, () => {
      expect(splitToFit('t', 10, [100])).toEqual([[0, 10]]);
      expect(splitToFit('t', 0, [100])).toEqual([]);
      // 96 bytes an item: starts must be multiples of 8 items (768 bytes); 10 items fit, so runs of 8
      const runs = splitToFit('t', 21, [96, 32]);
      expect(runs).toEqual([[0, 8], [8, 8], [16, 5]]);
      for (const [s, n] of runs) {
        expect((s * 96) % 256).toBe(0);
        expect(n * 96).toBeLessThanOrEqual(1000);
      }
      // unaligned, with a quantum, and with bytes besides the items'
      expect(splitToFit('t', 21, [96], { aligned: false })).toEqual([[0, 10], [10, 10], [20, 1]]);
      expect(fitRun('t', [4], { quantum: 64, aligned: false })).toBe(192);
      expect(splitToFit('t', 5, [100, 50], { aligned: false, extra: [300, 0] })).toEqual([[0, 5]]);
      expect(splitToFit('t', 9, [100, 50], { aligned: false, extra: [300, 0] })).toEqual([[0, 7], [7, 2]]);
    });
  });

  it('says what does not fit, by how much, and what to change', async () => {
    await withConfig({ maxBindingBytes: 1000, offsetAlign: 256 }, () => {
      expect(() => splitToFit('conv2d', 4, [1024], { hint: 'use a smaller batch' })).toThrow("conv2d: 1 item needs 1024 bytes in one binding, above this adapter's 1000: use a smaller batch");
      // alignment makes the smallest run 8 items of 96 bytes (768), more than fits with 300 bytes besides
      expect(() => splitToFit('copy', 20, [96], { extra: [300] })).toThrow("copy: 8 items need 1068 bytes in one binding, above this adapter's 1000");
    });
  });
});
