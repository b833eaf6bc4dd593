/**
 * Connected components of a binary map, the step of DB post-processing that turns the
 * thresholded probability map into separate text regions.
 */
import type { Point } from './types.js';

/** One 8-connected region of set pixels. */
export interface Component {
  /** Number of pixels in the region. */
  readonly pixels: number;
  /**
   * The centres of the leftmost and rightmost pixel of each row: enough to give the region's
   * convex hull (every other pixel lies between two of them), at a fraction of the points.
   */
  readonly outline: Point[];
}

/**
 * Labels the 8-connected regions of `mask` (row-major, non-zero = set), by an explicit-stack
 * flood fill so large regions cannot overflow the call stack. Regions come out in scan order
 * of their first pixel; at most `limit` are returned (DB caps candidates the same way).
 */
export function connectedComponents(mask: Uint8Array, width: number, height: number, limit = Infinity): Component[] {
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const components: Component[] = [];
  for (let start = 0; start < mask.length && components.length < limit; start++) {
    if (!mask[start] || seen[start]) continue;
    const rowMin = new Map<number, number>();
    const rowMax = new Map<number, number>();
    let top = 0;
    let pixels = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top > 0) {
      const index = stack[--top]!;
      const x = index % width;
      const y = (index - x) / width;
      pixels++;
      const min = rowMin.get(y);
      const max = rowMax.get(y);
      if (min === undefined || x < min) rowMin.set(y, x);
      if (max === undefined || x > max) rowMax.set(y, x);
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const next = ny * width + nx;
          if (mask[next] && !seen[next]) {
            seen[next] = 1;
            stack[top++] = next;
          }
        }
      }
    }
    const outline: Point[] = [];
    for (const [y, minX] of rowMin) {
      outline.push([minX + 0.5, y + 0.5]);
      const maxX = rowMax.get(y)!;
      if (maxX !== minX) outline.push([maxX + 0.5, y + 0.5]);
    }
    components.push({ pixels, outline });
  }
  return components;
}
