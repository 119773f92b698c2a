// An optimiser's state dict inside a checkpoint: its tensors as F32 entries
// `optimizer.state.<i>.<name>` beside the weights, its numbers (step counts) and param
// groups in the metadata's training record.

import type { SafetensorsFile, TensorInput } from './safetensors.js';

/** Prefix of optimiser state stored beside the weights in `.last` checkpoints. */
export const OPTIM_PREFIX = 'optimizer.';

/** PyTorch's layout (src/optim/optimizer.ts): per-parameter state by index, and the param groups. */
export interface OptimizerState<G = unknown> {
  state: Record<number, Record<string, number | Float32Array>>;
  param_groups: G;
}

/** What the metadata keeps: the param groups and each parameter's numbers. */
export interface SavedOptimizer<G = unknown> {
  param_groups: G;
  scalars: Record<string, Record<string, number>>;
}

/** The state dict split into checkpoint tensors and the record for the metadata. */
export function optimizerEntries<G>(sd: OptimizerState<G>): { tensors: Map<string, TensorInput>; saved: SavedOptimizer<G> } {
  const tensors = new Map<string, TensorInput>();
  const scalars: Record<string, Record<string, number>> = {};
  for (const [i, st] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(st)) {
      if (typeof v === 'number') (scalars[i] ??= {})[k] = v;
      else tensors.set(`${OPTIM_PREFIX}state.${i}.${k}`, { dtype: 'F32', shape: [v.length], data: v });
    }
  }
  return { tensors, saved: { param_groups: sd.param_groups, scalars } };
}

/** The state dict back from a checkpoint's tensors and its metadata record. */
export function readOptimizerState<G>(file: SafetensorsFile, saved: SavedOptimizer<G>): OptimizerState<G> {
  const state: Record<string, Record<string, number | Float32Array>> = {};
  for (const [i, s] of Object.entries(saved.scalars)) state[i] = { ...s };
  const prefix = `${OPTIM_PREFIX}state.`;
  for (const k of file.keys()) {
    if (!k.startsWith(prefix)) continue;
    const [i, name] = k.slice(prefix.length).split('.');
    (state[i] ??= {})[name] = file.read(k).data as Float32Array;
  }
  return { state, param_groups: saved.param_groups };
}
