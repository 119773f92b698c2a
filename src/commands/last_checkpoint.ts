// A training run's last checkpoint, `<model>.last.safetensors`: the weights with the
// optimiser and scheduler state and where the run stands (epoch, step, best accuracy),
// written after every epoch and on Ctrl-C, and read back by --resume.

import { existsSync } from 'node:fs';
import { saveCheckpoint, type CheckpointMeta } from '../io/checkpoint_file.js';
import { optimizerEntries, readOptimizerState, type SavedOptimizer } from '../io/optimizer_state.js';
import type { Module } from '../nn/module.js';
import type { Adam, OptimizerStateDict, PlateauStateDict, ReduceLROnPlateau, SGD } from '../optim/index.js';
import { openWeights, type LoadedWeights } from './weights.js';

/** Where a run stands, as its last checkpoint records it. */
export interface RunState {
  epoch: number;
  /** Steps done in the epoch after `epoch` (a run stopped within it); 0 after a whole epoch. */
  step: number;
  best_acc: number;
  frozen?: boolean;
  scheduler: PlateauStateDict;
  optimizer: OptimizerStateDict;
}

/** The last checkpoint to continue from, refused unless it holds optimiser state and was trained on `classes`. */
export function openLast(path: string, model: string, classes: string[]): LoadedWeights {
  if (!existsSync(path)) throw new Error(`--resume: no ${path} to continue from`);
  const w = openWeights(path, model);
  if (!w.ours || !w.training?.optimizer) throw new Error(`${path}: not a last checkpoint with optimiser state`);
  if (w.classes.join('\n') !== classes.join('\n')) throw new Error(`${path}: trained on classes [${w.classes.join(', ')}], the data has [${classes.join(', ')}]`);
  return w;
}

/** The run's state from an opened last checkpoint (its optimiser tensors read from the file). */
export function runState(w: LoadedWeights): RunState {
  const t = w.training as Omit<RunState, 'step' | 'optimizer'> & { step?: number; optimizer: SavedOptimizer<OptimizerStateDict['param_groups']> };
  return { ...t, step: t.step ?? 0, optimizer: readOptimizerState(w.file, t.optimizer) };
}

/** Writes the last checkpoint: optimiser tensors as `optimizer.state.<i>.<name>`, numbers in the metadata. */
export async function saveLast(path: string, model: Module, opt: Adam | SGD, scheduler: ReduceLROnPlateau, meta: (t: Record<string, unknown>) => CheckpointMeta, epoch: number, bestAcc: number, step = 0): Promise<void> {
  const { tensors, saved } = optimizerEntries(await opt.stateDict());
  const frozen = model.parameters().some((p) => !p.requiresGrad);
  await saveCheckpoint(path, model, meta({ epoch, ...(step ? { step } : {}), best_acc: bestAcc, frozen, scheduler: scheduler.stateDict(), optimizer: saved }), tensors);
}
