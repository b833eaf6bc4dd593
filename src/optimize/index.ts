/**
 * The offline pipeline above the quantizer: one `quantize` entry for every mode, side-by-side
 * comparisons, the FP32 → FP16 → INT8 ladder, and the report documents they produce.
 */
export { quantize, readInput, openModelData, QUANTIZE_PIPELINE_DEFAULTS } from './quantize.js';
export { isArchivePath, quantizeArchive, type QuantizeArchiveOptions, type QuantizeArchiveReport } from './quantize-archive.js';
export { compareModels, COMPARE_DEFAULTS, type CompareData, type CompareOptions, type ComparedModel, type ModelComparison } from './compare.js';
export { runLadder, type BudgetRung, type LadderOptions, type LadderResult, type LadderRung, type RungId } from './ladder.js';
export { isImageFolderTree, openLabelledData, parseIndexToName, type LabelledClass, type LabelledData } from './labelled-data.js';
export { comparisonReport, describeCalibration, ladderReport, singleModelReport, type ReportHeader } from './report.js';
export type * from './types.js';
