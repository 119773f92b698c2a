// Stopping a training run early: the error that ends it with a message and an exit code,
// and Ctrl-C (the first finishes the step and saves the last checkpoint, a second quits at once).

import { log } from './progress.js';

/** Raised to stop training with a message; the exit code tells why (130 for Ctrl-C). */
export class StopTraining extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export interface Interrupt {
  /** Whether Ctrl-C has been pressed. */
  readonly requested: () => boolean;
  /** Gives SIGINT back to its default. */
  release(): void;
}

/** Catches SIGINT until `release()`: the loop asks `requested()` between steps. */
export function catchInterrupt(): Interrupt {
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('stopping: finishing this step, then saving the last checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  return { requested: () => interrupted, release: () => process.off('SIGINT', onSigint) };
}
