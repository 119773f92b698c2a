// `report RUN_DIR...`: the run records of `train` as one HTML page (curves, confusion
// matrices, the seed's comparison tables) or as Markdown tables.

import { writeFileAtomic, writeAll } from '../io/atomic.js';
import { htmlReport } from '../report/html.js';
import { markdownReport } from '../report/markdown.js';
import { loadRuns } from '../report/tables.js';
import { log } from './progress.js';

export interface ReportOptions {
  out?: string;
  format: string;
}

export function reportCommand(dirs: string[], o: ReportOptions): void {
  if (o.format !== 'html' && o.format !== 'md') throw new Error(`--format must be html or md, got "${o.format}"`);
  const runs = loadRuns(dirs);
  const text = o.format === 'html' ? htmlReport(runs) : markdownReport(runs);
  const out = o.out ?? (o.format === 'html' ? 'report.html' : undefined);
  if (!out) {
    process.stdout.write(text);
    return;
  }
  const bytes = new TextEncoder().encode(text);
  writeFileAtomic(out, (fd) => writeAll(fd, bytes));
  log(`report of ${runs.length} run${runs.length === 1 ? '' : 's'} written to ${out}`);
}
