// Node only: opens Dawn (npm `webgpu`) and hands its `GPU` object to the engine.
//
// Choice of adapter: WEBGPU_BACKEND (vulkan, metal, d3d12, null, ...) and WEBGPU_ADAPTER
// (a substring of the adapter's name, e.g. "llvmpipe"), or the same as `initDevice`
// options (the CLI's --backend / --adapter). DAWN_TOGGLES adds Dawn toggles.
// WEBGPU_KERNELS=cpu|gpu (option `kernels`) forces a kernel set (src/engine/kernels.ts).

import { create, globals } from 'webgpu';
import { initDevice as initEngineDevice, NoAdapterError, type DeviceOptions, type Gpu } from './device.js';
import type { KernelSet } from './kernels.js';

export interface NodeDeviceOptions extends Omit<DeviceOptions, 'gpu'> {
  /** Dawn backend: vulkan, metal, d3d12, null, ... */
  backend?: string;
  /** A substring of the adapter's name. */
  adapter?: string;
}

const DEFAULT_BACKEND: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };
const INSTALL_HINT =
  'Install a Vulkan driver: on Debian bookworm, as root, add bookworm-backports and ' +
  '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (or run `npm run setup`, which does this); ' +
  "elsewhere install your GPU's Vulkan/Metal/D3D12 driver or Mesa >= 23 (lavapipe).";

// Kept for the life of the process: see destroyDevice's note in device.ts.
let dawn: GPU | null = null;

/** Opens Dawn with the flags of `opts` and the environment, then the engine's device on it. */
export async function initDevice(opts: NodeDeviceOptions = {}): Promise<Gpu> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  Object.assign(globalThis, globals);
  const flags: string[] = [];
  const backend = opts.backend ?? process.env.WEBGPU_BACKEND;
  const adapterName = opts.adapter ?? process.env.WEBGPU_ADAPTER;
  if (backend) flags.push(`backend=${backend}`);
  if (adapterName) flags.push(`adapter=${adapterName}`);
  if (process.env.DAWN_TOGGLES) flags.push(`enable-dawn-features=${process.env.DAWN_TOGGLES}`);
  // Dawn rounds timestamps to ~0.1 ms unless told not to (a browser's privacy measure).
  flags.push('disable-dawn-features=timestamp_quantization');
  dawn ??= create(flags);
  try {
    return await initEngineDevice({
      gpu: dawn,
      backend: backend ?? DEFAULT_BACKEND[process.platform] ?? 'default',
      powerPreference: opts.powerPreference,
      limits: opts.limits,
      kernels: opts.kernels ?? (process.env.WEBGPU_KERNELS as KernelSet | undefined),
    });
  } catch (e) {
    dawn = null;
    if (!(e instanceof NoAdapterError)) throw e;
    const detail = backend || adapterName ? `backend=${backend ?? 'any'} adapter=${adapterName ?? 'any'}` : e.detail;
    throw new NoAdapterError(detail, INSTALL_HINT);
  }
}

export { destroyDevice, gpu, hasDevice, checkErrors, NoAdapterError, LIMIT_KEYS, type Gpu } from './device.js';
