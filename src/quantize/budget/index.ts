/**
 * Accuracy budget (issue #13): per-layer sensitivity, and quantization that keeps the most
 * sensitive layers in float until a held-out metric is within budget.
 */
export { quantizeWithBudget, withinBudget, BUDGET_DEFAULTS, type AccuracyBudget, type BudgetOptions, type BudgetReport, type FloatLayer } from './budget-search.js';
export { analyzeSensitivity, DEFAULT_SENSITIVITY_METHOD, type LayerSensitivity, type SensitivityMethod, type SensitivityReport } from './sensitivity.js';
export { measureLayers, WEIGHTED_OPS, type WeightedLayer } from './layers.js';
export { outputFidelity, type FidelityMetric, type OutputFidelityOptions } from './output-fidelity.js';
export { VariantBuilder, type Variant } from './variants.js';
