import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barChart, columnChart, escapeXml, niceCeiling, scatterChart } from './svg.js';

const marks = (svg: string) => (svg.match(/class="mark"/g) ?? []).length;

describe('report charts', () => {
  it('round axis maxima up to 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual([0.7, 1, 1.2, 3, 7, 42, 0.013].map(niceCeiling), [1, 1, 2, 5, 10, 50, 0.02]);
    assert.equal(niceCeiling(0), 1);
    assert.equal(niceCeiling(Number.NaN), 1);
  });

  it('escape text so a model or layer name cannot break the page', () => {
    assert.equal(escapeXml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    const svg = barChart({ title: '<script>', categories: ['</svg>'], series: [{ name: 'a', values: [1] }], format: String });
    assert.ok(!svg.includes('<script>') && !svg.includes('</svg></svg>'));
  });

  it('draw one bar per measured value, and text instead of a bar for a missing or infinite one', () => {
    const svg = barChart({
      title: 'latency',
      categories: ['FP32', 'INT8', 'FP16'],
      series: [
        { name: 'batch 1', values: [2, 1, undefined] },
        { name: 'batch 8', values: [9, 4, Number.POSITIVE_INFINITY] },
      ],
      format: (v) => `${v} ms`,
    });
    assert.equal(marks(svg), 4);
    assert.match(svg, /not measured/);
    assert.match(svg, /Infinity ms/);
    // The longest bar spans the plot: 9 on an axis to 10.
    const widths = [...svg.matchAll(/class="mark"[^>]*width="([\d.]+)"/g)].map((match) => Number(match[1]));
    assert.equal(Math.max(...widths), 0.9 * (640 - 140 - 80));
  });

  it('draw a column per layer and a point per model', () => {
    assert.equal(marks(columnChart({ title: 'layers', items: [{ name: 'a', value: 40 }, { name: 'b', value: 30 }, { name: 'c', value: Number.POSITIVE_INFINITY }], unit: 'dB' })), 3);
    const scatter = scatterChart({ title: 't', xLabel: 'x', yLabel: 'y', points: [{ label: 'A', x: 1, y: 0.9 }, { label: 'B', x: 0.5, y: 0.8 }, { label: 'C', x: Number.NaN, y: 1 }], formatX: String, formatY: String });
    assert.equal(marks(scatter), 2);
  });
});
