// ReduceLROnPlateau (torch.optim.lr_scheduler.ReduceLROnPlateau): lowers the optimiser's
// lr by `factor` when a metric (a host number, e.g. the epoch's validation loss) has not
// improved for more than `patience` steps.

export interface PlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

/** PyTorch's state_dict keys (one parameter group). */
export interface PlateauStateDict {
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  threshold_mode: 'rel' | 'abs';
  cooldown: number;
  min_lrs: number[];
  eps: number;
  best: number;
  mode_worse: number;
  num_bad_epochs: number;
  cooldown_counter: number;
  last_epoch: number;
  _last_lr: number[];
}

export class ReduceLROnPlateau {
  private s: PlateauStateDict;

  constructor(readonly optimizer: { lr: number }, o: PlateauOptions = {}) {
    const mode = o.mode ?? 'min';
    const factor = o.factor ?? 0.1;
    if (!(factor < 1)) throw new Error('Factor should be < 1.0.');
    if (mode !== 'min' && mode !== 'max') throw new Error(`mode ${mode} is unknown!`);
    const thresholdMode = o.thresholdMode ?? 'rel';
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') throw new Error(`threshold mode ${thresholdMode} is unknown!`);
    const worse = mode === 'min' ? Infinity : -Infinity;
    this.s = {
      mode, factor, patience: o.patience ?? 10, threshold: o.threshold ?? 1e-4, threshold_mode: thresholdMode,
      cooldown: o.cooldown ?? 0, min_lrs: [o.minLr ?? 0], eps: o.eps ?? 1e-8,
      best: worse, mode_worse: worse, num_bad_epochs: 0, cooldown_counter: 0, last_epoch: 0, _last_lr: [optimizer.lr],
    };
  }

  /** The lr after the last step. */
  get lastLr(): number {
    return this.s._last_lr[0];
  }

  get numBadEpochs(): number {
    return this.s.num_bad_epochs;
  }

  step(metric: number): void {
    const s = this.s;
    const current = Number(metric);
    s.last_epoch++;
    if (this.isBetter(current, s.best)) {
      s.best = current;
      s.num_bad_epochs = 0;
    } else s.num_bad_epochs++;
    if (s.cooldown_counter > 0) {
      s.cooldown_counter--;
      s.num_bad_epochs = 0; // ignore any bad epochs in cooldown
    }
    if (s.num_bad_epochs > s.patience) {
      const old = this.optimizer.lr;
      const next = Math.max(old * s.factor, s.min_lrs[0]);
      // NOTE: as PyTorch, a reduction smaller than eps is skipped
      if (old - next > s.eps) this.optimizer.lr = next;
      s.cooldown_counter = s.cooldown;
      s.num_bad_epochs = 0;
    }
    s._last_lr = [this.optimizer.lr];
  }

  private isBetter(a: number, best: number): boolean {
    const { mode, threshold_mode: tm, threshold: t } = this.s;
    if (mode === 'min') return tm === 'rel' ? a < best * (1 - t) : a < best - t;
    return tm === 'rel' ? a > best * (t + 1) : a > best + t;
  }

  stateDict(): PlateauStateDict {
    return { ...this.s, min_lrs: [...this.s.min_lrs], _last_lr: [...this.s._last_lr] };
  }

  loadStateDict(sd: PlateauStateDict): void {
    // best and mode_worse may be +-Infinity written as strings (JSON has no Infinity)
    this.s = { ...sd, best: Number(sd.best), mode_worse: Number(sd.mode_worse), min_lrs: [...sd.min_lrs], _last_lr: [...sd._last_lr] };
  }
}
