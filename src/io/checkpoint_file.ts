// Node only: checkpoint files (see checkpoint.ts for the format).

import type { Module } from '../nn/module.js';
import { checkpointMetadata, checkpointTensors, parseCheckpointMeta, type Checkpoint, type CheckpointMeta } from './checkpoint.js';
import { openSafetensors, writeSafetensors } from './safetensors_file.js';
import type { TensorInput } from './safetensors.js';

export * from './checkpoint.js';

/** Reads every tensor of the module (and `extra` ones, e.g. optimiser state) and writes one file atomically. */
export async function saveCheckpoint(path: string, module: Module, meta: CheckpointMeta, extra: Map<string, TensorInput> = new Map()): Promise<void> {
  writeSafetensors(path, await checkpointTensors(module, extra), checkpointMetadata(meta));
}

export function openCheckpoint(path: string): Checkpoint {
  const file = openSafetensors(path);
  return { file, meta: parseCheckpointMeta(file.metadata, path) };
}
