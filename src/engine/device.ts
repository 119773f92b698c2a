// One WebGPU adapter + device per process (or page), opened on first use from a `GPU`
// object: `navigator.gpu` in a page (the default), Dawn's in Node (engine/node_gpu.ts
// opens it, with its flags and environment variables). Option `kernels` forces a kernel
// set (src/engine/kernels.ts; Node: WEBGPU_KERNELS=cpu|gpu); option `limits: 'default'` asks
// for WebGPU's default limits instead of the adapter's best.

import { setKernelSet, type KernelSet } from './kernels.js';

export interface DeviceOptions {
  /** Where adapters come from; default `navigator.gpu`. */
  gpu?: GPU;
  /** The backend's name as reported in `Gpu.info.backend` (Node: vulkan, metal, ...). */
  backend?: string;
  powerPreference?: GPUPowerPreference;
  kernels?: KernelSet;
  /** 'adapter' (the default): ask for every limit the adapter offers; 'default': WebGPU's default limits, what a page gets without asking (and all Dawn's null backend has). */
  limits?: 'adapter' | 'default';
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
  constructor(readonly detail: string, hint = 'Use a browser with WebGPU enabled (Chrome or Edge 113+, Firefox 141+, Safari 26+).') {
    super(`no WebGPU adapter found (${detail}). ${hint}`);
    this.name = 'NoAdapterError';
  }
}

const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

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
  if (opts.kernels) setKernelSet(opts.kernels);
  const factory = opts.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!factory) throw new NoAdapterError('this environment has no navigator.gpu: WebGPU is missing or disabled');
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await factory.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new NoAdapterError((e as Error).message.split('\n')[0]);
  }
  if (!adapter) throw new NoAdapterError('none available');
  const features = WANTED_FEATURES.filter((f) => adapter!.features.has(f));
  const requiredLimits: Record<string, number> = {};
  // Ask for everything the adapter offers: the defaults are too small for big layers.
  if (opts.limits !== 'default') for (const key of LIMIT_KEYS) {
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
      backend: opts.backend ?? 'webgpu',
    },
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    // A CPU adapter: the fallback adapter (as browsers mark SwiftShader), or named so; browsers
    // may leave description and device empty, so the architecture counts too.
    isSoftware: (ai as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
      /software|llvmpipe|lavapipe|swiftshader/i.test(`${ai.architecture} ${ai.device} ${ai.description}`),
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
  // NOTE: the GPU object (Dawn's instance) stays referenced by node_gpu.ts: freeing it
  // while the device-lost event is pending crashes dawn.node in ProcessEvents.
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
