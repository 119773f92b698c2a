export { Optimizer, type OptimizerStateDict, type StepOptions, type Hyper } from './optimizer.js';
export { Adam, type AdamOptions } from './adam.js';
export { SGD, type SGDOptions } from './sgd.js';
export { clipGradNorm, gradNormScale } from './clip.js';
export { ReduceLROnPlateau, type PlateauOptions, type PlateauStateDict } from './scheduler.js';
