// Checkpoints: a module's state dict as safetensors, with `__metadata__` holding what is
// needed to rebuild and run the model (name, configuration, classes, normalisation,
// training summary). On bytes here; checkpoint_file.ts writes files atomically.

import { Tensor } from '../engine/tensor.js';
import { HostInt, type Module, type StateSource } from '../nn/module.js';
import { openSafetensorsBytes, serializeSafetensors, type SafetensorsFile, type TensorInput } from './safetensors.js';

export const FORMAT = 'webgpu-dl/1';

export interface CheckpointMeta {
  model: string;
  config: Record<string, unknown>;
  classes: string[];
  mean: number[];
  std: number[];
  training?: Record<string, unknown>;
}

export interface Checkpoint {
  file: SafetensorsFile;
  /** Our metadata, or null for foreign weights (a bare state dict). */
  meta: CheckpointMeta | null;
}

/** Reads every tensor of the module back from the GPU (and adds `extra` ones, e.g. optimiser state). */
export async function checkpointTensors(module: Module, extra: Map<string, TensorInput> = new Map()): Promise<Map<string, TensorInput>> {
  const tensors = new Map<string, TensorInput>();
  for (const [k, v] of module.stateDict()) {
    if (v instanceof HostInt) tensors.set(k, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(v.value)) });
    else tensors.set(k, { dtype: v.dtype === 'i32' ? 'I32' : 'F32', shape: v.shape, data: await (v as Tensor).read() });
  }
  for (const [k, v] of extra) tensors.set(k, v);
  return tensors;
}

export function checkpointMetadata(meta: CheckpointMeta): Record<string, string> {
  return {
    format: FORMAT,
    model: meta.model,
    config: JSON.stringify(meta.config),
    classes: JSON.stringify(meta.classes),
    mean: JSON.stringify(meta.mean),
    std: JSON.stringify(meta.std),
    training: JSON.stringify(meta.training ?? {}),
  };
}

/** A checkpoint file's bytes (what `saveCheckpoint` writes). */
export async function serializeCheckpoint(module: Module, meta: CheckpointMeta, extra?: Map<string, TensorInput>): Promise<Uint8Array> {
  return serializeSafetensors(await checkpointTensors(module, extra), checkpointMetadata(meta));
}

/** Our metadata from a safetensors header, or null when the file is not one of our checkpoints. */
export function parseCheckpointMeta(m: Record<string, string>, name: string): CheckpointMeta | null {
  if (m.format !== FORMAT) return null;
  try {
    return {
      model: m.model,
      config: JSON.parse(m.config),
      classes: JSON.parse(m.classes),
      mean: JSON.parse(m.mean),
      std: JSON.parse(m.std),
      training: JSON.parse(m.training ?? '{}'),
    };
  } catch (e) {
    throw new Error(`${name}: malformed checkpoint metadata: ${(e as Error).message}`);
  }
}

/** A checkpoint (or foreign safetensors weights) from bytes in memory. */
export function parseCheckpoint(bytes: Uint8Array, name = '<buffer>'): Checkpoint {
  const file = openSafetensorsBytes(bytes, name);
  return { file, meta: parseCheckpointMeta(file.metadata, name) };
}

/** The tensors of a file whose keys start with `prefix`, seen without it. */
export function stateSource(file: SafetensorsFile, prefix = ''): StateSource {
  const keys = file.keys().filter((k) => k.startsWith(prefix));
  return {
    keys: () => keys.map((k) => k.slice(prefix.length)),
    shape: (k) => file.info(prefix + k).shape,
    read: (k) => file.read(prefix + k),
  };
}
