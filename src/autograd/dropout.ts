// Dropout with a per-process generator: a seed and a counter that advances per call, so
// successive calls draw different masks and a run is reproducible from manualSeed(seed).
// The backward regenerates the mask from the call's key: nothing is saved.

import { Tensor } from '../engine/tensor.js';
import { dropoutKernel } from '../engine/shaders/dropout.js';
import { mixSeed } from '../engine/rng.js';
import { record } from './tape.js';

export interface RngState {
  seed: number;
  counter: number;
}

// NOTE: the default seed is 0, so an unseeded run is reproducible too.
let state: RngState = { seed: 0, counter: 0 };

/** Seeds the dropout generator and restarts its counter. */
export function manualSeed(seed: number): void {
  state = { seed: Math.trunc(seed), counter: 0 };
}

/** The generator's state, to save in a checkpoint. */
export function getRngState(): RngState {
  return { ...state };
}

export function setRngState(s: RngState): void {
  state = { ...s };
}

/** The 64-bit kernel key of (seed, call counter). */
function keyOf(seed: number, counter: number): [number, number] {
  const hi = (v: number) => Math.floor(v / 2 ** 32);
  return [mixSeed(seed, hi(seed), counter, hi(counter), 0), mixSeed(seed, hi(seed), counter, hi(counter), 1)];
}

export interface DropoutOptions {
  /** false: the identity (eval mode). Default true, as F.dropout. */
  training?: boolean;
  /** A fixed seed for this call (same seed, same mask); the generator is neither used nor advanced. */
  seed?: number;
}

/**
 * Zeroes each element with probability p and scales the rest by 1/(1-p). Returns x
 * itself (no kernel) in eval mode or at p = 0; zeros at p = 1.
 */
export function dropout(x: Tensor, p: number, { training = true, seed }: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return record(Tensor.zeros(x.shape), [x], () => [Tensor.zeros(x.shape)]);
  const [k0, k1] = seed === undefined ? keyOf(state.seed, state.counter++) : keyOf(Math.trunc(seed), 0);
  return record(dropoutKernel(x, p, k0, k1), [x], (dy) => [dropoutKernel(dy, p, k0, k1)]);
}
