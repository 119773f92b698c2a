import { defineConfig } from 'vitest/config';

// One process for every suite: a single Dawn instance, and each WGSL pipeline
// compiled by lavapipe's LLVM once for the whole run.
// No per-test or per-hook time limit: a GPU test's first use of a kernel compiles its
// pipeline (seconds each on a cold shader cache, many times that on a busy machine), and
// compile time is not test time. The whole run's limit is the CI's (.ci/run).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    fileParallelism: false,
    testTimeout: 0,
    hookTimeout: 0,
    // lavapipe compiles each pipeline with LLVM; without its optimisation passes a compile
    // takes about a third of the time and the small tensors of most suites run about as
    // fast, so a cold shader cache costs minutes less. Suites that run many steps or the
    // seed's sizes give their child processes optimised kernels (test/gpu.ts optimisedEnv).
    env: { GALLIVM_PERF: process.env.GALLIVM_PERF ?? 'nopt' },
  },
});
