export * from './datasets.js';
export * from './folder.js';
export * from './idx.js';
export * from './loader.js';
export * from './resample.js';
export * from './transforms.js';
