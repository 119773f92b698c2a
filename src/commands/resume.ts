// `train --resume`: the settings a run was started with are kept in its last checkpoint;
// a resumed run takes them from there, and refuses a different value given on the
// command line, naming the option.

/** The options a last checkpoint records, by their CLI spelling. */
const RECORDED = {
  batchSize: '--batch-size',
  lr: '--lr',
  clip: '--clip',
  optimizer: '--optimizer',
  momentum: '--momentum',
  weightDecay: '--weight-decay',
  seed: '--seed',
  augment: 'augmentation (--no-augment)',
  shuffle: 'shuffling (--no-shuffle)',
} as const;

type Recorded = { -readonly [K in keyof typeof RECORDED]: unknown };

export function recordedOptions(o: Recorded): Record<string, unknown> {
  return Object.fromEntries(Object.keys(RECORDED).map((k) => [k, o[k as keyof Recorded]]));
}

/**
 * Fills `o` with the checkpoint's recorded options where the command line did not give
 * them (`given`: the options given; undefined means all), and throws naming the first
 * option given with a different value. Checkpoint config fields (image size, dropout)
 * are compared the same way.
 */
export function reconcileResume(
  o: Recorded & { imageSize?: number; dropout?: number },
  recorded: Record<string, unknown> | undefined,
  config: Record<string, unknown>,
  path: string,
  given?: Set<string>,
): void {
  const isGiven = (k: string) => !given || given.has(k);
  const fmt = (v: unknown) => (typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v));
  const differ = (flag: string, now: unknown, then: unknown): never => {
    throw new Error(`--resume: ${flag} ${fmt(now)} differs from ${fmt(then)} in ${path}; resume with the same setting, or start a new run (--overwrite or another --out)`);
  };
  if (o.imageSize !== undefined && o.imageSize !== config.imageSize) differ('--image-size', o.imageSize, config.imageSize);
  if (o.dropout !== undefined && 'dropout' in config && o.dropout !== config.dropout) differ('--dropout', o.dropout, config.dropout);
  if (!recorded) return;
  for (const [k, flag] of Object.entries(RECORDED) as [keyof Recorded, string][]) {
    if (!(k in recorded)) continue;
    if (!isGiven(k)) o[k] = recorded[k];
    else if (o[k] !== recorded[k]) differ(flag, o[k], recorded[k]);
  }
}
