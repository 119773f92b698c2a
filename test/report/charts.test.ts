// The SVG charts: tick choice, and what each chart draws from its data.
import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, heatMap, lineChart, ticks } from '../../src/report/charts.js';

describe('charts', () => {
  it('ticks are round and cover the range', () => {
    expect(ticks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(0.13, 0.87)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(ticks(0, 4500, 5)).toEqual([0, 1000, 2000, 3000, 4000]);
  });

  it('a line chart draws each series through its points, with gaps for nulls', () => {
    const svg = lineChart([{ name: 'train', x: [1, 2, 3], y: [1, 0.5, 0.25] }, { name: 'val <b>', x: [1, 2, 3, 4], y: [1.2, null, 0.6, 0.4] }], { title: 'Loss' });
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
    expect(paths).toHaveLength(2);
    expect(paths[0].match(/[ML]/g)).toEqual(['M', 'L', 'L']);
    expect(paths[1].match(/[ML]/g)).toEqual(['M', 'M', 'L']);
    expect(svg).toContain('val &lt;b&gt;');
    expect(svg).not.toContain('<b>');
    // y = 1 at x = 1 sits above y = 0.25 at x = 3 (SVG's y grows downwards).
    const [[x1, y1], , [x3, y3]] = [...paths[0].matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(x3).toBeGreaterThan(x1);
    expect(y3).toBeGreaterThan(y1);
  });

  it('marks given x positions inside the plot with vertical lines', () => {
    const svg = lineChart([{ name: 'loss', x: [1, 2, 3, 4, 5], y: [5, 4, 3, 2, 1] }], { xMarks: [2, 4, 5, 9] });
    const marks = [...svg.matchAll(/<line x1="([\d.]+)" x2="([\d.]+)"[^>]*stroke-dasharray="3 3"/g)].map((m) => Number(m[1]));
    expect(marks).toHaveLength(2); // 5 is the axis end, 9 outside
    expect(marks[1] - marks[0]).toBeGreaterThan(0);
  });

  it('a heat map writes every value, shaded by its share of the row', () => {
    const svg = heatMap([[8, 2], [0, 5]], { rows: ['cat', 'dog'], cols: ['cat', 'dog'] });
    expect([...svg.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1])).toEqual(['cat -&gt; cat: 8', 'cat -&gt; dog: 2', 'dog -&gt; cat: 0', 'dog -&gt; dog: 5']);
    const fills = [...svg.matchAll(/fill="rgb\(([\d,]+)\)"/g)].map((m) => m[1]);
    expect(fills[3]).toBe('31,80,143'); // a full row share: the darkest
    expect(fills[2]).toBe('255,255,255');
  });

  it('a bar chart draws one bar per finite value, heights in proportion', () => {
    const svg = barChart(['a', 'b', 'c'], [{ name: 'p', values: [0.5, 1, NaN] }], { yMin: 0, yMax: 1 });
    const h = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="#4e79a7"/g)].map((m) => Number(m[1]));
    expect(h).toHaveLength(2);
    expect(h[1] / h[0]).toBeCloseTo(2, 1);
  });

  it('escapes text', () => {
    expect(escapeXml(`a<b & "c"'`)).toBe('a&lt;b &amp; &quot;c&quot;&#39;');
  });
});
