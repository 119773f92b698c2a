// `prepare`: sorts Kaggle's flat <class>.<n>.<ext> files into train/ and val/ class
// folders (copied, or moved with --move) and says what it did.

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
