export { initDevice, destroyDevice, gpu, hasDevice, NoAdapterError, type DeviceOptions, type Gpu } from './device.js';
export { Tensor, tidy, dispose, liveBytes, liveTensors, numel, type Shape, type DType } from './tensor.js';
export { flush, sync, stats } from './runtime.js';
