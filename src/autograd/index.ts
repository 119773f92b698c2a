// Every differentiable op, as the library's `ops` namespace.
export * from './ops.js';
export { softmax, logSoftmax, crossEntropy, type CrossEntropyOptions } from './softmax.js';
export { Metrics, type MetricsReport } from './metrics.js';
export { conv2d, type Conv2dOptions } from './conv2d.js';
export { maxPool2d, adaptiveAvgPool2d, type MaxPool2dOpts } from './pool.js';
export { batchNorm, layerNorm, type BatchNormOpts } from './norm.js';
export { dropout, type DropoutOptions } from './dropout.js';
export { lstm, type LstmParams, type LstmOpts } from './lstm.js';
export { attention, attentionHeads, splitHeads, mergeHeads, type AttentionOpts } from './attention.js';
export { backward, noGrad, isGradEnabled } from './tape.js';
