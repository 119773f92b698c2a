// Small helpers of the WGSL generators (kernels unrolled in TypeScript).

/** 0, 1, ..., n-1 */
export const range = (n: number): number[] => [...Array(n).keys()];

/** The component names of a vec4, by index. */
export const C4 = 'xyzw';
