import { barChart, columnChart, escapeXml, scatterChart } from './svg.js';
import type { ReportDocument, ReportModel } from './types.js';

const STYLE = `
body { font: 14px/1.45 "DejaVu Sans", Verdana, sans-serif; color: #222; margin: 24px auto; max-width: 980px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.meta { color: #555; margin: 0; } table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; } .charts { display: flex; flex-wrap: wrap; gap: 12px 24px; }
figure.chart { margin: 8px 0; } figcaption { font-weight: bold; margin-bottom: 4px; } .note { color: #666; font-size: 12px; margin: 2px 0; max-width: 640px; }
code { background: #f4f4f4; padding: 0 3px; }`;

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 2)} MB`;
const ms = (value: number) => (value >= 10 ? value.toFixed(1) : value.toFixed(2));
const pct = (value: number) => `${(100 * value).toFixed(1)}%`;
const db = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} dB` : value > 0 ? '∞ (identical)' : String(value));

function latencyAt(model: ReportModel, batch: number): number | undefined {
  return model.latency?.find((entry) => entry.batch === batch)?.p50Ms;
}

/** The headline quality figure of a model: top-1 accuracy, or the mean SQNR of its outputs vs the first model. */
function quality(doc: ReportDocument, model: ReportModel, index: number): number | undefined {
  if (doc.data?.metric === 'accuracy') return model.accuracy?.top1;
  if (index === 0) return undefined;
  const finite = (model.fidelity ?? []).map((output) => output.sqnrDb).filter(Number.isFinite);
  return finite.length > 0 ? finite.reduce((sum, value) => sum + value, 0) / finite.length : undefined;
}

function summaryTable(doc: ReportDocument): string {
  const first = doc.models[0];
  const head = ['model', 'size', 'vs first', 'p50 batch 1', 'p50 batch 8', 'speed-up b1', doc.data?.metric === 'accuracy' ? 'top-1 / top-5' : 'SQNR vs first / top-1 agree', 'quantization'];
  const rows = doc.models.map((model, index) => {
    const [b1, b8, base] = [latencyAt(model, 1), latencyAt(model, 8), first ? latencyAt(first, 1) : undefined];
    const metric =
      doc.data?.metric === 'accuracy'
        ? model.accuracy
          ? `${pct(model.accuracy.top1)} / ${pct(model.accuracy.top5)}`
          : '–'
        : index === 0
          ? 'reference'
          : (model.fidelity ?? []).map((output) => `${output.output}: ${db(output.sqnrDb)}${output.top1Agreement === undefined ? '' : ` / ${pct(output.top1Agreement)}`}`).join('<br>') || '–';
    const q = model.quantization;
    return [
      escapeXml(model.name),
      mb(model.bytes),
      first ? `${(model.bytes / first.bytes).toFixed(3)}×` : '',
      b1 === undefined ? '–' : `${ms(b1)} ms`,
      b8 === undefined ? '–' : `${ms(b8)} ms`,
      b1 === undefined || base === undefined ? '–' : `${(base / b1).toFixed(2)}×`,
      metric.includes('<br>') ? metric.split('<br>').map(escapeXml).join('<br>') : escapeXml(metric),
      q ? escapeXml(`${q.mode}: ${q.calibration}; ${q.quantizedNodes} nodes`) : '–',
    ];
  });
  return `<table class="summary"><tr>${head.map((cell) => `<th>${escapeXml(cell)}</th>`).join('')}</tr>${rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('')}</table>`;
}

function charts(doc: ReportDocument): string[] {
  const names = doc.models.map((model) => model.name);
  const out = [barChart({ title: 'Size on disk', categories: names, series: [{ name: 'MB', values: doc.models.map((model) => model.bytes / 2 ** 20) }], format: (v) => `${v.toFixed(2)} MB` })];
  if (doc.models.some((model) => model.latency?.length)) {
    out.push(
      barChart({
        title: 'Latency, p50 (ms, lower is better)',
        categories: names,
        series: [1, 8].map((batch) => ({ name: `batch ${batch}`, values: doc.models.map((model) => latencyAt(model, batch)) })),
        format: (v) => `${ms(v)} ms`,
        note: 'All models measured interleaved in one process, round by round, on the same inputs.',
      }),
    );
  }
  if (doc.data?.metric === 'accuracy') {
    out.push(
      barChart({
        title: `Accuracy on ${doc.data.samples} labelled samples`,
        categories: names,
        series: [
          { name: 'top-1', values: doc.models.map((model) => model.accuracy?.top1) },
          { name: 'top-5', values: doc.models.map((model) => model.accuracy?.top5) },
        ],
        format: pct,
      }),
    );
  } else if (doc.models.length > 1) {
    const others = doc.models.slice(1);
    const outputs = [...new Set(others.flatMap((model) => (model.fidelity ?? []).map((output) => output.output)))].slice(0, 4);
    if (outputs.length > 0) {
      out.push(
        barChart({
          title: `Fidelity to ${doc.models[0]!.name}: SQNR per output (dB, higher is better)`,
          categories: others.map((model) => model.name),
          series: outputs.map((output) => ({ name: output, values: others.map((model) => model.fidelity?.find((entry) => entry.output === output)?.sqnrDb) })),
          format: (v) => `${v.toFixed(1)} dB`,
          note: 'An output identical to the reference has infinite SQNR and is shown as such.',
        }),
      );
      const agreement = outputs.filter((output) => others.some((model) => model.fidelity?.find((entry) => entry.output === output)?.top1Agreement !== undefined));
      if (agreement.length > 0) {
        out.push(
          barChart({
            title: `Top-1 agreement with ${doc.models[0]!.name}`,
            categories: others.map((model) => model.name),
            series: agreement.map((output) => ({ name: output, values: others.map((model) => model.fidelity?.find((entry) => entry.output === output)?.top1Agreement) })),
            format: pct,
          }),
        );
      }
    }
  }
  const points = doc.models.flatMap((model, index) => {
    const [x, y] = [latencyAt(model, 1), quality(doc, model, index)];
    return x === undefined || y === undefined || !Number.isFinite(y) ? [] : [{ label: model.name, x, y }];
  });
  if (points.length >= 2) {
    const accuracy = doc.data?.metric === 'accuracy';
    out.push(
      scatterChart({
        title: 'Trade-off: latency (batch 1) against ' + (accuracy ? 'top-1 accuracy' : 'fidelity'),
        xLabel: 'p50 latency at batch 1 (ms)',
        yLabel: accuracy ? 'top-1 accuracy' : 'mean SQNR vs first (dB)',
        points,
        formatX: (v) => `${ms(v)} ms`,
        formatY: accuracy ? pct : (v) => `${v.toFixed(1)} dB`,
        note: 'Up and to the left is better.',
      }),
    );
  }
  return out;
}

function layerCharts(doc: ReportDocument): string[] {
  return doc.models
    .filter((model) => (model.layers?.length ?? 0) > 0)
    .map((model) =>
      columnChart({
        title: `${model.name}: weight SQNR per quantized layer (dB)`,
        items: model.layers!.map((layer) => ({ name: layer.name, value: layer.sqnrDb })),
        unit: 'dB',
      }),
    );
}

function fusionTable(doc: ReportDocument): string {
  const rows = doc.models.filter((model) => model.fusion);
  if (rows.length === 0) return '';
  const cells = rows.map((model) => {
    const fusion = model.fusion!;
    const kernels = Object.entries(fusion.integerKernels).sort().map(([op, count]) => `${count} ${op}`).join(', ') || '–';
    const unfused = fusion.unfused.slice(0, 8).map((node) => `${node.name} (${node.opType} → ${node.became ?? 'removed'})`).join(', ') + (fusion.unfused.length > 8 ? ', …' : '');
    return [model.name, `${fusion.fused}/${fusion.checked}`, `${fusion.compute.fused}/${fusion.compute.asked}`, kernels, unfused || 'none'];
  });
  const head = ['model', 'quantized nodes fused', 'Conv/MatMul/Gemm fused', 'integer kernels in onnxruntime', 'not fused'];
  return (
    '<h2>Fusion: quantized nodes that became integer kernels</h2>' +
    `<table class="fusion"><tr>${head.map((cell) => `<th>${cell}</th>`).join('')}</tr>${cells.map((row) => `<tr>${row.map((cell) => `<td>${escapeXml(cell)}</td>`).join('')}</tr>`).join('')}</table>`
  );
}

/**
 * Renders a report as one self-contained HTML page: inline CSS, inline SVG charts, no script and
 * no external resource, so it opens offline and from an e-mail attachment. The JSON document is
 * embedded too (`<script type="application/json" id="kiln-report-data">`, which never runs).
 */
export function renderReport(doc: ReportDocument): string {
  const env = doc.environment;
  const data = doc.data ? `<p class="meta">data: <code>${escapeXml(doc.data.path)}</code>, ${doc.data.samples} samples, ${doc.data.metric === 'accuracy' ? 'labelled: top-1/top-5 accuracy' : 'unlabelled: fidelity to the first model'}</p>` : '';
  const layers = layerCharts(doc);
  const notes = [...doc.notes, ...doc.models.flatMap((model) => (model.notes ?? []).map((note) => `${model.name}: ${note}`))];
  const json = JSON.stringify(doc).replace(/</g, '\\u003c');
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeXml(doc.title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>${escapeXml(doc.title)}</h1>`,
    `<p class="meta">${escapeXml(doc.command)} · ${escapeXml(doc.generated)} · ${escapeXml(env.cpu)} (${env.cores} cores) · onnxruntime ${escapeXml(env.onnxruntime)} · kiln ${escapeXml(env.kiln)}</p>`,
    data,
    '<h2>Summary</h2>',
    summaryTable(doc),
    `<div class="charts">${charts(doc).join('')}</div>`,
    layers.length > 0 ? `<h2>Per-layer SQNR</h2><div class="charts">${layers.join('')}</div>` : '',
    fusionTable(doc),
    notes.length > 0 ? `<h2>Notes</h2><ul>${notes.map((note) => `<li>${escapeXml(note)}</li>`).join('')}</ul>` : '',
    `<script type="application/json" id="kiln-report-data">${json}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}
