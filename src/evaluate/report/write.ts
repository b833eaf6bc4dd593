import { writeFileAtomic } from '../../core/fs.js';
import { renderReport } from './html.js';
import type { ReportDocument } from './types.js';

/** The JSON file written beside an HTML report: `report.html` → `report.json`. */
export function reportJsonPath(htmlPath: string): string {
  return /\.html?$/i.test(htmlPath) ? htmlPath.replace(/\.html?$/i, '.json') : `${htmlPath}.json`;
}

/**
 * Writes the HTML page and, beside it, the same figures as JSON (non-finite numbers, such as the
 * infinite SQNR of identical outputs, become `null` there, as JSON has no Infinity).
 */
export function writeReport(htmlPath: string, doc: ReportDocument): void {
  writeFileAtomic(htmlPath, [Buffer.from(renderReport(doc))]);
  writeFileAtomic(reportJsonPath(htmlPath), [Buffer.from(`${JSON.stringify(doc, null, 2)}\n`)]);
}
