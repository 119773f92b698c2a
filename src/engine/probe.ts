// Exit status 0 when a WebGPU device can be opened (used by scripts/setup.sh).
import { destroyDevice, initDevice } from './node_gpu.js';

try {
  const g = await initDevice();
  console.log(`${g.info.description || g.info.device} (${g.info.vendor})`);
  destroyDevice();
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 1;
}
