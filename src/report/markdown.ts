// The report's tables as Markdown (for a README): `report --format md`.

import { comparisonTables, numericColumns, type Run, type Table } from './tables.js';

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function markdownTable(t: Table): string {
  const right = numericColumns(t);
  return [
    `| ${t.head.map(cell).join(' | ')} |`,
    `|${right.map((r) => (r ? '---:' : '---')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function markdownReport(runs: readonly Run[]): string {
  return comparisonTables(runs).map((t) => `#### ${t.title}\n\n${markdownTable(t)}\n\n${t.note}\n`).join('\n');
}
