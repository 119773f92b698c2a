// Checkpoints: a module's state dict as safetensors, with `__metadata__` holding what is
// needed to rebuild and run the model (name, configuration, classes, normalisation,
// training summary). Written atomically.

import { Tensor } from '../engine/tensor.js';
import { HostInt, type Module, type StateSource } from '../nn/module.js';
import { openSafetensors, writeSafetensors, type SafetensorsFile, type TensorInput } from './safetensors.js';

export const FORMAT = 'webgpu-dl/1';

export interface CheckpointMeta {
  model: string;
  config: Record<string, unknown>;
  classes: string[];
  mean: number[];
  std: number[];
  training?: Record<string, unknown>;
}

/** Reads every tensor of the module (and `extra` ones, e.g. optimiser state) and writes one file. */
export async function saveCheckpoint(path: string, module: Module, meta: CheckpointMeta, extra: Map<string, TensorInput> = new Map()): Promise<void> {
  const tensors = new Map<string, TensorInput>();
  for (const [k, v] of module.stateDict()) {
    if (v instanceof HostInt) tensors.set(k, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(v.value)) });
    else tensors.set(k, { dtype: v.dtype === 'i32' ? 'I32' : 'F32', shape: v.shape, data: await (v as Tensor).read() });
  }
  for (const [k, v] of extra) tensors.set(k, v);
  writeSafetensors(path, tensors, {
    format: FORMAT,
    model: meta.model,
    config: JSON.stringify(meta.config),
    classes: JSON.stringify(meta.classes),
    mean: JSON.stringify(meta.mean),
    std: JSON.stringify(meta.std),
    training: JSON.stringify(meta.training ?? {}),
  });
}

export interface Checkpoint {
  file: SafetensorsFile;
  /** Our metadata, or null for foreign weights (a bare state dict). */
  meta: CheckpointMeta | null;
}

export function openCheckpoint(path: string): Checkpoint {
  const file = openSafetensors(path);
  const m = file.metadata;
  if (m.format !== FORMAT) return { file, meta: null };
  try {
    return {
      file,
      meta: {
        model: m.model,
        config: JSON.parse(m.config),
        classes: JSON.parse(m.classes),
        mean: JSON.parse(m.mean),
        std: JSON.parse(m.std),
        training: JSON.parse(m.training ?? '{}'),
      },
    };
  } catch (e) {
    throw new Error(`${path}: malformed checkpoint metadata: ${(e as Error).message}`);
  }
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
