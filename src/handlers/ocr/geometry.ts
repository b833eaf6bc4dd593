/**
 * Plane geometry for text boxes: convex hull, minimum-area rotated rectangle, the DB "unclip"
 * expansion and reading order. Pure functions on plain numbers, so each is unit-tested alone.
 */
import type { Point, Quad } from './types.js';

/**
 * A rectangle at any angle. `width` runs along the direction `angle` (radians, clockwise on
 * screen since y points down), `height` across it. {@link minAreaRect} keeps `angle` within
 * (-π/4, π/4], so `width` is the side nearer the horizontal.
 */
export interface RotatedRect {
  readonly cx: number;
  readonly cy: number;
  readonly width: number;
  readonly height: number;
  readonly angle: number;
}

function cross(o: Point, a: Point, b: Point): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/**
 * Convex hull by the monotone chain: points sorted by x then y, lower and upper chains built with
 * a turn test. Collinear points are dropped; fewer than three distinct points come back as-is.
 */
export function convexHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const unique = sorted.filter((point, index) => index === 0 || point[0] !== sorted[index - 1]![0] || point[1] !== sorted[index - 1]![1]);
  if (unique.length < 3) return unique;
  const chain = (input: readonly Point[]): Point[] => {
    const out: Point[] = [];
    for (const point of input) {
      while (out.length >= 2 && cross(out[out.length - 2]!, out[out.length - 1]!, point) <= 0) out.pop();
      out.push(point);
    }
    out.pop();
    return out;
  };
  return [...chain(unique), ...chain([...unique].reverse())];
}

/**
 * The smallest-area rectangle holding every point. A minimal rectangle has one side on an edge
 * of the convex hull (the rotating-calipers theorem), so each hull edge direction is tried and
 * the hull is projected on it and its normal; hulls of text components are small, so the
 * O(edges × vertices) search costs less than maintaining calipers.
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  const hull = convexHull(points);
  if (hull.length === 0) return { cx: 0, cy: 0, width: 0, height: 0, angle: 0 };
  if (hull.length === 1) return { cx: hull[0]![0], cy: hull[0]![1], width: 0, height: 0, angle: 0 };
  let best: RotatedRect | undefined;
  let bestArea = Infinity;
  for (let index = 0; index < hull.length; index++) {
    const a = hull[index]!;
    const b = hull[(index + 1) % hull.length]!;
    const length = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (length === 0) continue;
    const ux = (b[0] - a[0]) / length;
    const uy = (b[1] - a[1]) / length;
    let minU = Infinity, maxU = -Infinity, minV = Infinity, maxV = -Infinity;
    for (const [x, y] of hull) {
      const u = x * ux + y * uy;
      const v = -x * uy + y * ux;
      minU = Math.min(minU, u); maxU = Math.max(maxU, u);
      minV = Math.min(minV, v); maxV = Math.max(maxV, v);
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area < bestArea - 1e-9) {
      bestArea = area;
      const cu = (minU + maxU) / 2;
      const cv = (minV + maxV) / 2;
      best = { cx: cu * ux - cv * uy, cy: cu * uy + cv * ux, width: maxU - minU, height: maxV - minV, angle: Math.atan2(uy, ux) };
    }
  }
  return normalizeRect(best!);
}

/** Turns a rectangle by multiples of 90° (swapping sides) until its angle is in (-π/4, π/4]. */
export function normalizeRect(rect: RotatedRect): RotatedRect {
  let { width, height, angle } = rect;
  const quarter = Math.PI / 2;
  while (angle > Math.PI / 4 + 1e-9) {
    angle -= quarter;
    [width, height] = [height, width];
  }
  while (angle <= -Math.PI / 4 + 1e-9) {
    angle += quarter;
    [width, height] = [height, width];
  }
  return { cx: rect.cx, cy: rect.cy, width, height, angle };
}

/** The corners of a rectangle, clockwise on screen from the top-left (angle within ±45°). */
export function rectCorners(rect: RotatedRect): Quad {
  const ux = Math.cos(rect.angle) * (rect.width / 2);
  const uy = Math.sin(rect.angle) * (rect.width / 2);
  const vx = -Math.sin(rect.angle) * (rect.height / 2);
  const vy = Math.cos(rect.angle) * (rect.height / 2);
  const { cx, cy } = rect;
  return [
    [cx - ux - vx, cy - uy - vy],
    [cx + ux - vx, cy + uy - vy],
    [cx + ux + vx, cy + uy + vy],
    [cx - ux + vx, cy - uy + vy],
  ];
}

/**
 * How far DB's "unclip" pushes a shrunk text kernel outwards: `area * ratio / perimeter`. The
 * detector was trained on text regions shrunk by this same offset (ratio 1.5 for PP-OCR), so
 * growing the found region by it recovers the full text extent.
 */
export function unclipDistance(width: number, height: number, ratio: number): number {
  const perimeter = 2 * (width + height);
  return perimeter === 0 ? 0 : (width * height * ratio) / perimeter;
}

/**
 * Grows a rectangle by `distance` on every side. Offsetting a rectangle's outline outwards gives
 * a rounded rectangle whose minimum-area box is exactly this, so no polygon clipper is needed.
 */
export function expandRect(rect: RotatedRect, distance: number): RotatedRect {
  return { ...rect, width: rect.width + 2 * distance, height: rect.height + 2 * distance };
}

/** Applies `transform` to each corner, keeping the order. */
export function mapQuad(quad: Quad, transform: (point: Point) => Point): Quad {
  return [transform(quad[0]), transform(quad[1]), transform(quad[2]), transform(quad[3])];
}

/**
 * Moves two opposite sides of a quad outwards, each by `fraction` of the distance between them:
 * the top and bottom sides when `across` is `'vertical'`, the left and right ones otherwise.
 */
export function growQuad(quad: Quad, fraction: number, across: 'vertical' | 'horizontal'): Quad {
  const [tl, tr, br, bl] = quad;
  const push = (from: Point, to: Point): Point => [from[0] - (to[0] - from[0]) * fraction, from[1] - (to[1] - from[1]) * fraction];
  return across === 'vertical'
    ? [push(tl, bl), push(tr, br), push(br, tr), push(bl, tl)]
    : [push(tl, tr), push(tr, tl), push(br, bl), push(bl, br)];
}

/** Width (top edge) and height (left edge) of a quad, taking the longer of opposite sides. */
export function quadSize(quad: Quad): { width: number; height: number } {
  const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  return {
    width: Math.max(dist(quad[0], quad[1]), dist(quad[3], quad[2])),
    height: Math.max(dist(quad[0], quad[3]), dist(quad[1], quad[2])),
  };
}

/**
 * Sorts boxes into reading order: rows from top to bottom, left to right within a row. Two boxes
 * share a row when their vertical centres are closer than half the smaller box's height, which
 * keeps words of one line together even when their tops differ by a few pixels.
 */
export function readingOrder<T extends { readonly box: Quad }>(items: readonly T[]): T[] {
  const info = items.map((item) => {
    const ys = item.box.map((point) => point[1]);
    const xs = item.box.map((point) => point[0]);
    return { item, cy: (Math.min(...ys) + Math.max(...ys)) / 2, height: Math.max(...ys) - Math.min(...ys), left: Math.min(...xs) };
  });
  info.sort((a, b) => a.cy - b.cy);
  const rows: (typeof info)[] = [];
  for (const entry of info) {
    const row = rows[rows.length - 1];
    const anchor = row?.[0];
    if (row && anchor && Math.abs(entry.cy - anchor.cy) < Math.min(entry.height, anchor.height) / 2) row.push(entry);
    else rows.push([entry]);
  }
  return rows.flatMap((row) => row.sort((a, b) => a.left - b.left).map((entry) => entry.item));
}
