/// <reference types="@webgpu/types" preserve="true" />
// The library for pages and bundlers: everything that runs wherever WebGPU does, and
// nothing that needs Node (the Node entry, index.ts, adds Dawn and files).
//
//   import { initDevice, tidy, nn, optim, models, ops } from 'webgpu-dl';
//   await initDevice();                    // navigator.gpu in a page; Dawn under Node

export { initDevice, gpu, hasDevice, destroyDevice, checkErrors, NoAdapterError, LIMIT_KEYS, type DeviceOptions, type Gpu } from './engine/device.js';
export { Tensor, tidy, dispose, liveBytes, liveTensors, numel, type Shape, type DType } from './engine/tensor.js';
export { flush, sync, pace, stats, setMemoryLimit, trimPool, type RuntimeStats } from './engine/runtime.js';
export { Rng, mixSeed } from './engine/rng.js';
export { backward, noGrad } from './autograd/tape.js';
export { crossEntropy, softmax } from './autograd/softmax.js';
export { Metrics, type MetricsReport } from './autograd/metrics.js';
export * as ops from './autograd/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as models from './models/index.js';
export type { ModelSpec, ImageConfig, LoadedWeights } from './models/index.js';
export type { Module, StateSource } from './nn/index.js';
export { parseSafetensors, serializeSafetensors, openSafetensorsBytes, type Safetensors, type SafetensorsFile, type TensorInput, type TensorsInput } from './io/safetensors.js';
export { parseNpy, serializeNpy } from './io/npy.js';
export { parseCheckpoint, serializeCheckpoint, stateSource, type Checkpoint, type CheckpointMeta } from './io/checkpoint.js';
export { toFloat32, toInt32, type Dtype, type TensorData, type TypedArray } from './io/dtype.js';
export { transformPixels, toTensor, type TransformSpec } from './data/pixels.js';
export { resizeBilinear } from './data/resample.js';
