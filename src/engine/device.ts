// One WebGPU adapter + device per process, opened on first use.
//
// Choice of adapter: WEBGPU_BACKEND (vulkan, metal, d3d12, ...) and WEBGPU_ADAPTER
// (a substring of the adapter's name, e.g. "llvmpipe"), or the same as `initDevice`
// options (the CLI's --backend / --adapter). DAWN_TOGGLES adds Dawn toggles.
// WEBGPU_KERNELS=cpu|gpu (option `kernels`) forces a kernel set (src/engine/kernels.ts).

import { create, globals } from 'webgpu';
import { setKernelSet, type KernelSet } from './kernels.js';

export interface DeviceOptions {
  backend?: string;
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  kernels?: KernelSet;
}

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: { vendor: string; architecture: string; device: string; description: string; backend: string };
  features: Set<string>;
  limits: GPUSupportedLimits;
  isSoftware: boolean;
  /** The subgroup size where the device has 'subgroups' and the adapter a single size, else 0. */
  subgroupSize: number;
}

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `no WebGPU adapter found (${detail}). Install a Vulkan driver: on Debian bookworm, as root, ` +
        'add bookworm-backports and `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` ' +
        '(or run `npm run setup`, which does this); elsewhere install your GPU\'s Vulkan/Metal/D3D12 driver ' +
        'or Mesa >= 23 (lavapipe).',
    );
    this.name = 'NoAdapterError';
  }
}

const DEFAULT_BACKEND: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

let gpuFactory: GPU | null = null;
let current: Gpu | null = null;
let opening: Promise<Gpu> | null = null;

/** Opens the process's device (once; later calls return the same one). */
export function initDevice(opts: DeviceOptions = {}): Promise<Gpu> {
  if (current) return Promise.resolve(current);
  opening ??= open(opts).finally(() => (opening = null));
  return opening;
}

/** The open device; throws if `initDevice` has not completed. */
export function gpu(): Gpu {
  if (!current) throw new Error('WebGPU device not initialised: await initDevice() first');
  return current;
}

export function hasDevice(): boolean {
  return current !== null;
}

async function open(opts: DeviceOptions): Promise<Gpu> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const kernels = opts.kernels ?? process.env.WEBGPU_KERNELS;
  if (kernels) setKernelSet(kernels as KernelSet);
  Object.assign(globalThis, globals);
  const flags: string[] = [];
  const backend = opts.backend ?? process.env.WEBGPU_BACKEND;
  const adapterName = opts.adapter ?? process.env.WEBGPU_ADAPTER;
  if (backend) flags.push(`backend=${backend}`);
  if (adapterName) flags.push(`adapter=${adapterName}`);
  if (process.env.DAWN_TOGGLES) flags.push(`enable-dawn-features=${process.env.DAWN_TOGGLES}`);
  // Dawn rounds timestamps to ~0.1 ms unless told not to (a browser's privacy measure).
  flags.push('disable-dawn-features=timestamp_quantization');
  gpuFactory = create(flags);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpuFactory.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    gpuFactory = null;
    throw new NoAdapterError((e as Error).message.split('\n')[0]);
  }
  if (!adapter) {
    gpuFactory = null;
    throw new NoAdapterError(backend || adapterName ? `backend=${backend ?? 'any'} adapter=${adapterName ?? 'any'}` : 'none available');
  }
  const features = WANTED_FEATURES.filter((f) => adapter!.features.has(f));
  const requiredLimits: Record<string, number> = {};
  // Ask for everything the adapter offers: the defaults are too small for big layers.
  for (const key of LIMIT_KEYS) {
    const v = (adapter.limits as unknown as Record<string, number>)[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  device.lost.then((info) => {
    if (current?.device === device && info.reason !== 'destroyed') {
      console.error(`WebGPU device lost: ${info.message}`);
    }
  });
  device.addEventListener('uncapturederror', (ev) => {
    if (errors.length < 16) errors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  const ai = adapter.info;
  current = {
    device,
    adapter,
    info: {
      vendor: ai.vendor,
      architecture: ai.architecture,
      device: ai.device,
      description: ai.description,
      backend: backend ?? DEFAULT_BACKEND[process.platform] ?? 'default',
    },
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    isSoftware: /software|llvmpipe|lavapipe|swiftshader/i.test(`${ai.architecture} ${ai.device} ${ai.description}`),
    subgroupSize: subgroupSize(device, ai),
  };
  return current;
}

function subgroupSize(device: GPUDevice, info: GPUAdapterInfo): number {
  const { subgroupMinSize: min, subgroupMaxSize: max } = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return device.features.has('subgroups') && min && min === max ? min : 0;
}

const errors: string[] = [];

/** Throws the first WebGPU error raised since the last check (validation, shader compile). */
export function checkErrors(): void {
  if (!errors.length) return;
  const first = errors[0].split('\n').filter((l) => l.trim())[0];
  const n = errors.length;
  errors.length = 0;
  throw new Error(`WebGPU error${n > 1 ? ` (and ${n - 1} more)` : ''}: ${first}`);
}

/** Releases the device so that Node can exit (dawn.node keeps the process alive while referenced). */
export function destroyDevice(): void {
  if (current) {
    const d = current.device;
    current = null;
    d.destroy();
  }
  // NOTE: the GPU object (the Dawn instance) stays referenced: freeing it while the
  // device-lost event is pending crashes dawn.node in ProcessEvents.
}


export const LIMIT_KEYS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;
