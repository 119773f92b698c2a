// Small helpers of the WGSL generators (kernels unrolled in TypeScript).

/** 0, 1, ..., n-1 */
export const range = (n: number): number[] => [...Array(n).keys()];

/** The component names of a vec4, by index. */
export const C4 = 'xyzw';

type KeyPart = string | number | boolean | undefined;
const LEAF = Symbol('code');
const kernels = new Map<unknown, unknown>();

/**
 * A kernel variant's WGSL, generated on first use: `key` names it by plain values (the
 * family first), looked up through nested maps, so that no string is built per call.
 */
export function kernelCode(key: readonly KeyPart[], make: () => string): string {
  let m = kernels;
  for (let i = 0; i < key.length; i++) {
    const k = key[i];
    let next = m.get(k) as Map<unknown, unknown> | undefined;
    if (!next) m.set(k, (next = new Map()));
    m = next;
  }
  let c = m.get(LEAF) as string | undefined;
  if (c === undefined) m.set(LEAF, (c = make()));
  return c;
}
