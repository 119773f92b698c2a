// `prepare`: a Kaggle-style flat folder's <class>.<n>.<ext> files sorted into class
// folders (copied, or moved with --move; split into train/ and val/ with --val-fraction),
// one line per folder said, and the names left where they are.

import { prepareFlat } from '../data/folder.js';

export function prepareCommand(dir: string, o: { move: boolean; valFraction?: number; seed: number }): void {
  const { sorted, left } = prepareFlat(dir, { move: o.move, valFraction: o.valFraction, seed: o.seed });
  const folders = Object.entries(sorted);
  if (!folders.length) console.log(`${dir}: nothing to sort (no flat image files named <class>.<n>.<ext>)`);
  for (const [folder, counts] of folders) {
    console.log(`${folder}: ${Object.entries(counts).map(([c, n]) => `${c} ${n}`).join(', ')} (${o.move ? 'moved' : 'copied'})`);
  }
  if (left.length) {
    console.log(`left where they are (not named <class>.<n>.<ext>): ${left.length} file${left.length > 1 ? 's' : ''}`);
    for (const f of left) console.log(`  ${f}`);
  }
}
