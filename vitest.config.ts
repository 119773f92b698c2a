import { defineConfig } from 'vitest/config';

// One process for every suite: a single Dawn instance, and each WGSL pipeline
// compiled by lavapipe's LLVM once for the whole run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
