// Which set of kernel configurations runs: the one for CPU adapters (lavapipe,
// SwiftShader: SIMD lanes, uniform loads shared by subgroup broadcast, long runs per
// invocation) or the one for GPUs. Chosen from the adapter, unless forced (the Node
// device opener reads WEBGPU_KERNELS=cpu|gpu; tests switch it), so that the GPU set can
// be run end to end on this machine's CPU adapter too.

import { gpu } from './device.js';

export type KernelSet = 'cpu' | 'gpu';

let forced: KernelSet | null = null;

/** Forces a kernel set (null: chosen from the adapter). */
export function setKernelSet(set: KernelSet | null): void {
  if (set !== null && set !== 'cpu' && set !== 'gpu') throw new Error(`kernel set must be cpu or gpu, got "${set}"`);
  forced = set;
}

export function kernelSet(): KernelSet {
  return forced ?? (gpu().isSoftware ? 'cpu' : 'gpu');
}

/** Whether the CPU adapters' kernel configurations are in use. */
export function cpuKernels(): boolean {
  return kernelSet() === 'cpu';
}

/** The subgroup size the CPU kernels may broadcast across (0: none, or the GPU set). */
export function broadcastSubgroup(): number {
  return cpuKernels() ? gpu().subgroupSize : 0;
}
