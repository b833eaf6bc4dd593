/**
 * The report's charts, drawn as SVG text on the server.
 *
 * Why hand-written SVG and not an inlined chart library (uPlot 1.6, Chart.js 4): the report has
 * four kinds of static chart (grouped bars, columns, a scatter) over at most a few dozen values,
 * with no zoom or hover to offer. As SVG they are ~150 lines, add no bytes of script to the page,
 * need no JavaScript at view time (so a page cannot fail to draw, and no console error can come
 * from a chart), print and scale crisply, and their marks are countable in a plain unit test.
 * Inlining a library would add 50–200 KB of minified code per page plus a data-to-options layer,
 * for features (interaction, animation, time axes) the report does not use.
 *
 * Every drawn value is an element with `class="mark"`, so a test can check that a chart drew.
 */

/** Colours of the series, in order (colour-blind-safe Okabe–Ito hues). */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00'];

const WIDTH = 640;
const FONT = 'font-family="DejaVu Sans, Verdana, sans-serif" font-size="12"';

/** Escapes text for SVG and HTML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten, at or above `max`. */
export function niceCeiling(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function figure(title: string, svg: string, height: number, note?: string): string {
  return (
    `<figure class="chart"><figcaption>${escapeXml(title)}</figcaption>` +
    `<svg class="chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${escapeXml(title)}" ${FONT}>${svg}</svg>` +
    (note ? `<p class="note">${escapeXml(note)}</p>` : '') +
    '</figure>'
  );
}

function legend(names: readonly string[], y: number): string {
  if (names.length < 2) return '';
  let x = 150;
  return names
    .map((name, index) => {
      const item = `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${PALETTE[index % PALETTE.length]}"/><text x="${x + 14}" y="${y}">${escapeXml(name)}</text>`;
      x += 24 + name.length * 7;
      return item;
    })
    .join('');
}

/** One series of a bar chart: a value per category (undefined: not measured). */
export interface Series {
  readonly name: string;
  readonly values: readonly (number | undefined)[];
}

/**
 * Horizontal bars, one group per category (a model) and one bar per series (batch 1, batch 8…),
 * with the value written at the end of each bar.
 */
export function barChart(spec: {
  readonly title: string;
  readonly categories: readonly string[];
  readonly series: readonly Series[];
  readonly format: (value: number) => string;
  readonly note?: string;
}): string {
  const labelWidth = 140;
  const plot = WIDTH - labelWidth - 80;
  const bar = 16;
  const groupHeight = spec.series.length * bar + 10;
  const top = spec.series.length > 1 ? 34 : 22;
  const height = top + spec.categories.length * groupHeight + 10;
  const finite = spec.series.flatMap((series) => series.values).filter((value): value is number => value !== undefined && Number.isFinite(value));
  const max = niceCeiling(Math.max(0, ...finite));
  const scale = (value: number) => (Math.max(0, value) / max) * plot;
  const parts = [legend(spec.series.map((series) => series.name), 14)];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const x = labelWidth + tick * plot;
    parts.push(`<line x1="${x}" x2="${x}" y1="${top - 4}" y2="${height - 6}" stroke="#ddd"/><text x="${x}" y="${top - 8}" text-anchor="middle" fill="#666">${escapeXml(spec.format(tick * max))}</text>`);
  }
  spec.categories.forEach((category, row) => {
    const y0 = top + row * groupHeight;
    parts.push(`<text x="${labelWidth - 6}" y="${y0 + (spec.series.length * bar) / 2 + 4}" text-anchor="end">${escapeXml(category)}</text>`);
    spec.series.forEach((series, index) => {
      const value = series.values[row];
      const y = y0 + index * bar;
      if (value === undefined || !Number.isFinite(value)) {
        parts.push(`<text x="${labelWidth + 4}" y="${y + 12}" fill="#999">${value === undefined ? 'not measured' : escapeXml(spec.format(value))}</text>`);
        return;
      }
      const width = Math.max(1, scale(value));
      parts.push(
        `<rect class="mark" x="${labelWidth}" y="${y + 1}" width="${width.toFixed(1)}" height="${bar - 3}" fill="${PALETTE[index % PALETTE.length]}"><title>${escapeXml(`${category} ${series.name}: ${spec.format(value)}`)}</title></rect>` +
          `<text x="${(labelWidth + width + 4).toFixed(1)}" y="${y + 12}">${escapeXml(spec.format(value))}</text>`,
      );
    });
  });
  return figure(spec.title, parts.join(''), height, spec.note);
}

/** Vertical columns, one per item (a layer), for long series; the lowest ones are labelled. */
export function columnChart(spec: {
  readonly title: string;
  readonly items: readonly { readonly name: string; readonly value: number }[];
  readonly unit: string;
  readonly note?: string;
}): string {
  const [left, top, plotHeight] = [50, 14, 160];
  const plot = WIDTH - left - 10;
  const height = top + plotHeight + 30;
  const values = spec.items.map((item) => (Number.isFinite(item.value) ? item.value : 0));
  const max = niceCeiling(Math.max(0, ...values));
  // Columns at most 24 px wide, so one layer does not fill the plot.
  const step = Math.min(24, plot / Math.max(1, spec.items.length));
  const parts: string[] = [];
  for (const tick of [0, 0.5, 1]) {
    const y = top + plotHeight * (1 - tick);
    parts.push(`<line x1="${left}" x2="${WIDTH - 10}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${left - 4}" y="${y + 4}" text-anchor="end" fill="#666">${(tick * max).toFixed(0)}</text>`);
  }
  const lowest = [...values].sort((a, b) => a - b)[Math.min(2, values.length - 1)];
  spec.items.forEach((item, index) => {
    const value = values[index]!;
    const barHeight = Math.max(1, (Math.max(0, value) / max) * plotHeight);
    const x = left + index * step;
    const label = `${item.name}: ${Number.isFinite(item.value) ? item.value.toFixed(1) : String(item.value)} ${spec.unit}`;
    parts.push(
      `<rect class="mark" x="${(x + step * 0.1).toFixed(1)}" y="${(top + plotHeight - barHeight).toFixed(1)}" width="${Math.max(1, step * 0.8).toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${value <= lowest! ? PALETTE[5] : PALETTE[0]}"><title>${escapeXml(label)}</title></rect>`,
    );
  });
  parts.push(`<text x="${left}" y="${height - 8}" fill="#666">${spec.items.length} layers in graph order (hover a column for its name); the lowest are orange</text>`);
  return figure(spec.title, parts.join(''), height, spec.note);
}

/** Points with labels on two linear axes: the trade-off chart (latency against accuracy). */
export function scatterChart(spec: {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly points: readonly { readonly label: string; readonly x: number; readonly y: number }[];
  readonly formatX: (value: number) => string;
  readonly formatY: (value: number) => string;
  readonly note?: string;
}): string {
  const [left, top, plotHeight] = [60, 14, 220];
  const plot = WIDTH - left - 150;
  const height = top + plotHeight + 40;
  const points = spec.points.filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y));
  const xMax = niceCeiling(Math.max(0, ...points.map((point) => point.x)));
  const yValues = points.map((point) => point.y);
  const [yLow, yHigh] = [Math.min(...yValues), Math.max(...yValues)];
  const pad = yHigh > yLow ? (yHigh - yLow) * 0.15 : Math.max(Math.abs(yHigh) * 0.05, 1e-3);
  const [y0, y1] = [yLow - pad, yHigh + pad];
  const px = (x: number) => left + (x / xMax) * plot;
  const py = (y: number) => top + plotHeight * (1 - (y - y0) / (y1 - y0));
  const parts: string[] = [];
  for (const tick of [0, 0.5, 1]) {
    parts.push(`<line x1="${px(tick * xMax)}" x2="${px(tick * xMax)}" y1="${top}" y2="${top + plotHeight}" stroke="#ddd"/><text x="${px(tick * xMax)}" y="${top + plotHeight + 14}" text-anchor="middle" fill="#666">${escapeXml(spec.formatX(tick * xMax))}</text>`);
    const y = y0 + tick * (y1 - y0);
    parts.push(`<line x1="${left}" x2="${left + plot}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/><text x="${left - 4}" y="${py(y) + 4}" text-anchor="end" fill="#666">${escapeXml(spec.formatY(y))}</text>`);
  }
  parts.push(`<text x="${left + plot / 2}" y="${height - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  parts.push(`<text x="12" y="${top + plotHeight / 2}" transform="rotate(-90 12 ${top + plotHeight / 2})" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`);
  points.forEach((point, index) => {
    const [x, y] = [px(point.x), py(point.y)];
    const colour = PALETTE[index % PALETTE.length];
    parts.push(
      `<circle class="mark" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="6" fill="${colour}"><title>${escapeXml(`${point.label}: ${spec.formatX(point.x)}, ${spec.formatY(point.y)}`)}</title></circle>` +
        `<text x="${(x + 9).toFixed(1)}" y="${(y + 4 + (index % 2 ? 10 : 0)).toFixed(1)}">${escapeXml(point.label)}</text>`,
    );
  });
  return figure(spec.title, parts.join(''), height, spec.note);
}
