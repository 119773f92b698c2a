import { initDevice } from './dist/engine/node_gpu.js';
import { Tensor, tidy } from './dist/engine/tensor.js';
import { matmul } from './dist/engine/shaders/matmul.js';
import { sync } from './dist/engine/runtime.js';
await initDevice();
for (const [M, N, K, tb] of [[1024, 1024, 1024, false], [512, 100, 784, true], [8, 256, 150528 / 16, true]]) {
  const a = Tensor.from(new Float32Array(M * K).map(() => Math.random()), [M, K]).keep();
  const b = Tensor.from(new Float32Array(N * K).map(() => Math.random()), tb ? [N, K] : [K, N]).keep();
  tidy(() => void matmul(a, b, { transB: tb })); await sync();
  const ts = [];
  for (let r = 0; r < 5; r++) { const t0 = performance.now(); for (let i = 0; i < 3; i++) tidy(() => void matmul(a, b, { transB: tb })); await sync(); ts.push((performance.now() - t0) / 3); }
  ts.sort((x, y) => x - y);
  console.log(`${M}x${N}x${K}${tb ? ' tB' : ''}`, 'median ms', ts[2].toFixed(2), 'GFLOP/s', (2 * M * N * K / ts[2] / 1e6).toFixed(1));
  a.dispose(); b.dispose();
}
process.exit(0);
