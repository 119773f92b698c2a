// Values that every lane of a subgroup needs, read once per subgroup: on CPU adapters a
// storage load that is the same for every lane costs about as much as one that differs per
// lane (bench/NOTES.md, matmul), so the values are numbered f = 0 .. count-1, lane l of each
// subgroup loads f = l, l + sg, l + 2*sg, ... (one round each), and a value reaches every
// lane by subgroupBroadcast from the lane that loaded it. The kernel's control flow must be
// uniform where these are used (no early return).

import { range } from './codegen.js';

/** What a kernel using subgroups puts first (nothing without). */
export const enableSubgroups = (sg: number) => (sg ? 'enable subgroups;\n' : '');

/** The entry point's extra parameter: `sgi`, this lane's index in its subgroup. */
export const subgroupParam = (sg: number) => (sg ? ', @builtin(subgroup_invocation_id) sgi: u32' : '');

/** This lane's value number in each round: WGSL u32 expressions. */
export const laneValues = (sg: number, count: number): string[] => range(Math.ceil(count / sg)).map((r) => `(${r * sg}u + sgi)`);

/**
 * `loads`: `let {name}{r} = load(f, r)` for each round r (f: this lane's value number);
 * `at(f, part)`: value f (`part`, e.g. '.x', picks a component of a vector value) on every lane.
 */
export function shareAcross(sg: number, count: number, name: string, load: (f: string, r: number) => string): { loads: string[]; at: (f: number, part?: string) => string } {
  return {
    loads: laneValues(sg, count).map((f, r) => `let ${name}${r} = ${load(f, r)};`),
    at: (f, part = '') => `subgroupBroadcast(${name}${Math.floor(f / sg)}${part}, ${f % sg}u)`,
  };
}
