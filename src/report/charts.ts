// Charts as SVG strings: a multi-series line chart, a heat map and a grouped bar chart.
// Pure functions of their data (no DOM, no I/O), so the same code draws the report
// written by `report` and live charts in a web page (assign the string to innerHTML).
// Hover titles carry the exact values; colours follow the Tableau 10 palette. E.g.
//   el.innerHTML = lineChart([{ name: 'train', x: [1, 2], y: [0.9, 0.5] }], { title: 'Loss', xLabel: 'epoch' });

export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export interface Series {
  name: string;
  x: readonly number[];
  /** null leaves a gap. */
  y: readonly (number | null)[];
  color?: string;
  dashed?: boolean;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Axis bounds; by default the data's, widened to round ticks. */
  yMin?: number;
  yMax?: number;
  /** Values in [0, 1] shown as percentages. */
  percent?: boolean;
  /** A logarithmic y axis (positive values only), e.g. for a learning-rate schedule. */
  logY?: boolean;
  /** x positions marked by faint vertical lines (e.g. where epochs end on a per-step curve). */
  xMarks?: readonly number[];
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number for a label: short, without float noise. */
export function formatNumber(v: number, percent = false): string {
  if (percent) return `${+(100 * v).toFixed(2)}%`;
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  if (a >= 100) return String(Math.round(v));
  return String(+v.toPrecision(3));
}

/** About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

const FONT = 'font-family="system-ui,sans-serif" font-size="11"';
const MARGIN = { left: 52, right: 12, top: 26, bottom: 34 };

function frame(width: number, height: number, body: string, title?: string, label?: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"${label ?? title ? ` aria-label="${escapeXml((label ?? title)!)}"` : ''} ${FONT}>`
    + `<rect width="${width}" height="${height}" fill="#fff"/>`
    + (title ? `<text x="${width / 2}" y="15" text-anchor="middle" font-size="13" font-weight="600">${escapeXml(title)}</text>` : '')
    + body + '</svg>';
}

/** One row of keys, right-aligned at `right`, above the plot. */
function legend(items: { name: string; color: string; dashed?: boolean }[], right: number, y: number, box = false): string {
  if (items.length < 2) return '';
  let x = right, out = '';
  for (const s of [...items].reverse()) {
    x -= 6.2 * s.name.length;
    out += `<text x="${r1(x)}" y="${y + 4}">${escapeXml(s.name)}</text>`;
    x -= 20;
    out += box ? `<rect x="${r1(x + 2)}" y="${y - 5}" width="10" height="10" fill="${s.color}"/>`
      : `<line x1="${r1(x)}" x2="${r1(x + 14)}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
    x -= 10;
  }
  return out;
}

/** Round axis ends: lo and hi moved out to the ticks' step unless fixed. */
function axisRange(lo: number, hi: number, fixLo: boolean, fixHi: boolean): [number, number] {
  const t = ticks(lo, hi);
  const step = t.length > 1 ? t[1] - t[0] : 1;
  return [fixLo ? lo : +(Math.floor(lo / step + 1e-9) * step).toPrecision(12), fixHi ? hi : +(Math.ceil(hi / step - 1e-9) * step).toPrecision(12)];
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** Lines of y against x, one per series, on shared axes. */
export function lineChart(series: readonly Series[], o: ChartOptions = {}): string {
  const width = o.width ?? 480, height = o.height ?? 260;
  const px0 = MARGIN.left, px1 = width - MARGIN.right, py0 = height - MARGIN.bottom, py1 = MARGIN.top + (series.length > 1 ? 14 : 0);
  const xs = series.flatMap((s) => s.x.filter((_, i) => s.y[i] != null));
  const ys = series.flatMap((s) => s.y.filter((v): v is number => v != null && Number.isFinite(v) && (!o.logY || v > 0)));
  if (!ys.length) return frame(width, height, `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#888">no data</text>`, o.title);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 === x0) (x0 -= 1), (x1 += 1);
  const tf = o.logY ? Math.log10 : (v: number) => v;
  let y0 = o.yMin ?? Math.min(...ys), y1 = o.yMax ?? Math.max(...ys);
  if (y1 === y0) (y0 = o.logY ? y0 / 2 : y0 - 0.5), (y1 = o.logY ? y1 * 2 : y1 + 0.5);
  let yTicks: number[];
  if (o.logY) {
    yTicks = ticks(Math.floor(Math.log10(y0)), Math.ceil(Math.log10(y1)), 4).filter(Number.isInteger).map((e) => 10 ** e);
    y0 = Math.min(y0, yTicks[0]);
    y1 = Math.max(y1, yTicks.at(-1)!);
  } else {
    [y0, y1] = axisRange(y0, y1, o.yMin !== undefined, o.yMax !== undefined);
    yTicks = ticks(y0, y1);
  }
  const sx = (x: number) => r1(px0 + ((x - x0) / (x1 - x0)) * (px1 - px0));
  const sy = (y: number) => r1(py0 - ((tf(y) - tf(y0)) / (tf(y1) - tf(y0) || 1)) * (py0 - py1));
  const xTicks = ticks(x0, x1, Math.max(2, Math.floor((px1 - px0) / 70))).filter((t) => t >= x0 && t <= x1);
  const integerX = xs.every(Number.isInteger);
  let body = yTicks.filter((t) => t >= y0 && t <= y1).map((t) => `<line x1="${px0}" x2="${px1}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e6e6e6"/>`
    + `<text x="${px0 - 5}" y="${sy(t) + 4}" text-anchor="end">${o.logY ? t.toExponential(0).replace('e+', 'e') : formatNumber(t, o.percent)}</text>`).join('');
  body += xTicks.filter((t) => !integerX || Number.isInteger(t)).map((t) => `<line x1="${sx(t)}" x2="${sx(t)}" y1="${py0}" y2="${py0 + 4}" stroke="#888"/>`
    + `<text x="${sx(t)}" y="${py0 + 15}" text-anchor="middle">${formatNumber(t)}</text>`).join('');
  body += (o.xMarks ?? []).filter((x) => x > x0 && x < x1).map((x) => `<line x1="${sx(x)}" x2="${sx(x)}" y1="${py1}" y2="${py0}" stroke="#bbb" stroke-dasharray="3 3"/>`).join('');
  body += `<line x1="${px0}" x2="${px1}" y1="${py0}" y2="${py0}" stroke="#888"/><line x1="${px0}" x2="${px0}" y1="${py1}" y2="${py0}" stroke="#888"/>`;
  if (o.xLabel) body += `<text x="${(px0 + px1) / 2}" y="${height - 4}" text-anchor="middle" fill="#555">${escapeXml(o.xLabel)}</text>`;
  if (o.yLabel) body += `<text transform="translate(12 ${(py0 + py1) / 2}) rotate(-90)" text-anchor="middle" fill="#555">${escapeXml(o.yLabel)}</text>`;
  const items = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  for (const s of items) {
    let d = '', pen = false, dots = '';
    const few = s.x.length <= 40;
    s.x.forEach((x, i) => {
      const y = s.y[i];
      if (y == null || !Number.isFinite(y) || (o.logY && y <= 0)) return void (pen = false);
      d += `${pen ? 'L' : 'M'}${sx(x)} ${sy(y)}`;
      pen = true;
      if (few) dots += `<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${s.color}"><title>${escapeXml(s.name)} ${formatNumber(x)}: ${formatNumber(y, o.percent)}</title></circle>`;
    });
    body += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="5 3"' : ''}><title>${escapeXml(s.name)}</title></path>${dots}`;
  }
  body += legend(items, px1, MARGIN.top + 2);
  return frame(width, height, body, o.title);
}

export interface HeatMapOptions {
  title?: string;
  /** Row and column names (e.g. true and predicted class). */
  rows: readonly string[];
  cols: readonly string[];
  xLabel?: string;
  yLabel?: string;
  /** Side of a cell in pixels (default: 34 to 56, by the number of columns). */
  cell?: number;
  /** Colour by the value's share of its row (default, as a confusion matrix's recall) or of the largest value. */
  scale?: 'row' | 'max';
}

/** A matrix as coloured cells with their values written in. */
export function heatMap(values: readonly (readonly number[])[], o: HeatMapOptions): string {
  const cell = o.cell ?? Math.max(34, Math.min(56, Math.floor(400 / o.cols.length)));
  const rowW = Math.min(120, 8 + 6.5 * Math.max(...o.rows.map((r) => r.length)));
  const colH = Math.min(110, 10 + 5.2 * Math.max(...o.cols.map((c) => c.length)));
  const left = rowW + (o.yLabel ? 18 : 0), top = 26 + colH + (o.xLabel ? 14 : 0);
  const width = Math.max(left + cell * o.cols.length + 12, o.title ? 8 * o.title.length : 0), height = top + cell * o.rows.length + 10;
  const max = Math.max(1e-12, ...values.flat());
  let body = '';
  values.forEach((row, i) => {
    const denom = o.scale === 'max' ? max : Math.max(1e-12, row.reduce((a, b) => a + b, 0));
    row.forEach((v, j) => {
      const t = Math.max(0, Math.min(1, v / denom));
      // White to the palette's blue.
      const c = [255 - t * (255 - 31), 255 - t * (255 - 80), 255 - t * (255 - 143)].map(Math.round);
      const x = left + j * cell, y = top + i * cell;
      body += `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${c})" stroke="#fff"><title>${escapeXml(`${o.rows[i]} -> ${o.cols[j]}: ${v}`)}</title></rect>`
        + `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="${cell < 30 ? 9 : 10}" fill="${t > 0.5 ? '#fff' : '#222'}">${formatNumber(v)}</text>`;
    });
    body += `<text x="${left - 4}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${escapeXml(o.rows[i])}</text>`;
  });
  o.cols.forEach((c, j) => {
    const x = left + j * cell + cell / 2 + 4, y = top - 4;
    body += `<text transform="translate(${x} ${y}) rotate(-60)">${escapeXml(c)}</text>`;
  });
  if (o.xLabel) body += `<text x="${left + (cell * o.cols.length) / 2}" y="${36}" text-anchor="middle" fill="#555">${escapeXml(o.xLabel)}</text>`;
  if (o.yLabel) body += `<text transform="translate(12 ${top + (cell * o.rows.length) / 2}) rotate(-90)" text-anchor="middle" fill="#555">${escapeXml(o.yLabel)}</text>`;
  return frame(width, height, body, o.title);
}

/** Bars for each category, one per series side by side. */
export function barChart(categories: readonly string[], series: readonly { name: string; values: readonly number[]; color?: string }[], o: ChartOptions = {}): string {
  const width = o.width ?? Math.max(300, 90 + categories.length * (18 * series.length + 16)), height = o.height ?? 260;
  const bottom = MARGIN.bottom + Math.min(60, 5.2 * Math.max(0, ...categories.map((c) => c.length)) - 10);
  const px0 = MARGIN.left, px1 = width - MARGIN.right, py0 = height - bottom, py1 = MARGIN.top + (series.length > 1 ? 14 : 0);
  const all = series.flatMap((s) => s.values.filter(Number.isFinite));
  const [y0, y1] = axisRange(o.yMin ?? Math.min(0, ...all), o.yMax ?? Math.max(1e-12, ...all), o.yMin !== undefined, o.yMax !== undefined);
  const yTicks = ticks(y0, y1);
  const sy = (y: number) => r1(py0 - ((y - y0) / (y1 - y0 || 1)) * (py0 - py1));
  let body = yTicks.filter((t) => t <= y1).map((t) => `<line x1="${px0}" x2="${px1}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e6e6e6"/>`
    + `<text x="${px0 - 5}" y="${sy(t) + 4}" text-anchor="end">${formatNumber(t, o.percent)}</text>`).join('');
  const band = (px1 - px0) / Math.max(1, categories.length), bar = Math.min(22, (band - 8) / Math.max(1, series.length));
  const items = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  categories.forEach((c, j) => {
    const start = px0 + j * band + (band - bar * series.length) / 2;
    items.forEach((s, k) => {
      const v = s.values[j];
      if (!Number.isFinite(v)) return;
      const top = Math.min(sy(v), sy(0)), h = Math.abs(sy(v) - sy(0));
      body += `<rect x="${r1(start + k * bar)}" y="${top}" width="${r1(bar - 1)}" height="${h}" fill="${s.color}"><title>${escapeXml(`${c} ${s.name}: ${formatNumber(v, o.percent)}`)}</title></rect>`;
    });
    const x = px0 + j * band + band / 2;
    body += `<text transform="translate(${r1(x + 3)} ${py0 + 12}) rotate(-35)" text-anchor="end">${escapeXml(c)}</text>`;
  });
  body += `<line x1="${px0}" x2="${px1}" y1="${sy(0)}" y2="${sy(0)}" stroke="#888"/><line x1="${px0}" x2="${px0}" y1="${py1}" y2="${py0}" stroke="#888"/>`;
  if (o.yLabel) body += `<text transform="translate(12 ${(py0 + py1) / 2}) rotate(-90)" text-anchor="middle" fill="#555">${escapeXml(o.yLabel)}</text>`;
  body += legend(items, px1, MARGIN.top + 2, true);
  return frame(width, height, body, o.title);
}
