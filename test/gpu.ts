// Shared set-up for GPU suites: one device for the whole run (vitest runs every file
// in one process). Without an adapter the suites skip, except under CI, where a
// missing adapter fails them: a green CI means the GPU suites ran.
import { beforeAll } from 'vitest';
import { initDevice } from '../src/engine/node_gpu.js';
import { overrideConfig, type EngineConfig } from '../src/engine/config.js';

export { toGpu, expectClose, check } from './check.js';

let available: boolean | null = null;

export async function gpuAvailable(): Promise<boolean> {
  if (available === null) {
    try {
      await initDevice();
      available = true;
    } catch (e) {
      if (process.env.CI) throw e;
      available = false;
    }
  }
  return available;
}

/** Top-level `const hasGpu = await useGpu();` then `describe.skipIf(!hasGpu)`. */
export async function useGpu(): Promise<boolean> {
  const ok = await gpuAvailable();
  beforeAll(async () => {
    if (ok) await initDevice();
  });
  return ok;
}

/** Runs `fn` with fields of the engine's per-adapter table overridden, then restores them. */
export async function withConfig<T>(set: Partial<EngineConfig>, fn: () => T | Promise<T>): Promise<T> {
  const restore = overrideConfig(set);
  try {
    return await fn();
  } finally {
    restore();
  }
}

/**
 * The environment for a child process that runs many steps or the seed's sizes: lavapipe's
 * LLVM optimises its kernels there (the suite itself compiles without optimisation passes,
 * vitest.config.ts), so that it runs at the speed a user's run does.
 */
export function optimisedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.GALLIVM_PERF;
  return env;
}
