// The library under Node: the browser entry's API, with the device opened on Dawn
// (npm `webgpu`) and file readers/writers for safetensors, .npy and checkpoints.
//
//   import { initDevice, tidy, nn, optim, models } from 'webgpu-dl';

export * from './browser.js';
// Shadows the browser entry's initDevice: this one opens Dawn (flags, WEBGPU_BACKEND, WEBGPU_ADAPTER).
export { initDevice, type NodeDeviceOptions } from './engine/node_gpu.js';
export { readSafetensors, openSafetensors, writeSafetensors } from './io/safetensors_file.js';
export { readNpy, writeNpy } from './io/npy_file.js';
export { saveCheckpoint, openCheckpoint } from './io/checkpoint_file.js';
export { transformImage } from './data/transforms.js';
