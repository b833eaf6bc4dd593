/**
 * The Prometheus text format 0.0.4 exactly as TorchServe's frontend writes it (the Prometheus
 * Java client it embeds): every label pair followed by a comma, `Requests2XX{Level="Host",
 * Hostname="h",} 11.0`, values as Java doubles, no blank line between families. Prometheus
 * parses both this and prom-client's form the same way, but scrapers and tests written against
 * TorchServe match the text, so the ts_* and legacy families can be written this way.
 */

/** How `GET /metrics` writes TorchServe's families. */
export type MetricsTextFormat = 'torchserve' | 'standard';

/** The formats {@link MetricsTextFormat} allows, for parsers of `metrics_text_format`. */
export const METRICS_TEXT_FORMATS: readonly MetricsTextFormat[] = Object.freeze(['torchserve', 'standard']);

/** One family as prom-client's `metric.get()` returns it. */
export interface FamilySamples {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: readonly { readonly value: number; readonly labels: Readonly<Record<string, string | number | undefined>> }[];
}

/**
 * A number as Java's `Double.toString` writes it (through the Java client's `doubleToGoString`,
 * which spells the infinities `+Inf`/`-Inf`): always a fraction digit, and scientific notation
 * with a bare `E` below 10^-3 and from 10^7 on.
 * @example javaDouble(11) // '11.0'; javaDouble(12345678) // '1.2345678E7'; javaDouble(0.0001) // '1.0E-4'
 */
export function javaDouble(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    // JavaScript writes this range without an exponent and with the same shortest digits.
    const text = String(value);
    return text.includes('.') ? text : `${text}.0`;
  }
  // toExponential() without an argument gives the shortest digits that read back exactly.
  const [mantissa, exponent] = value.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
}

/** Label values escape backslash, double quote and newline; help text backslash and newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * One family in TorchServe's text, ending in a newline. Labels are written in `labelOrder`
 * (TorchServe's dimension order), whatever order the sample's object has.
 * @example renderTorchServeFamily(family, ['Level', 'Hostname'])
 */
export function renderTorchServeFamily(family: FamilySamples, labelOrder: readonly string[]): string {
  const lines = [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`];
  for (const sample of family.values) {
    const pairs = labelOrder
      .filter((name) => sample.labels[name] !== undefined)
      .map((name) => `${name}="${escapeLabel(String(sample.labels[name]))}",`)
      .join('');
    lines.push(`${family.name}${pairs === '' ? '' : `{${pairs}}`} ${javaDouble(sample.value)}`);
  }
  return `${lines.join('\n')}\n`;
}
