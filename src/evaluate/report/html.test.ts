import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderReport } from './html.js';
import { REPORT_FORMAT, REPORT_VERSION, type ReportDocument } from './types.js';

const doc: ReportDocument = {
  format: REPORT_FORMAT,
  version: REPORT_VERSION,
  title: 'kiln optimize: model.onnx',
  command: 'kiln optimize',
  generated: '2026-12-03T00:00:00.000Z',
  environment: { cpu: 'test cpu', cores: 2, onnxruntime: '1.0', kiln: '0.1.0' },
  data: { path: 'lines/', samples: 16, metric: 'fidelity' },
  models: [
    { name: 'FP32', path: 'a.onnx', bytes: 2 ** 20, latency: [{ batch: 1, p50Ms: 2, p90Ms: 3, samplesPerSecond: 500 }, { batch: 8, p50Ms: 10, p90Ms: 11, samplesPerSecond: 800 }] },
    {
      name: 'static </script> MSE',
      path: 'b.onnx',
      bytes: 2 ** 18,
      latency: [{ batch: 1, p50Ms: 1, p90Ms: 1.5, samplesPerSecond: 1000 }],
      fidelity: [{ output: 'y', sqnrDb: 31.5, top1Agreement: 0.95 }],
      layers: [{ name: 'conv1', sqnrDb: 40 }],
      fusion: { checked: 3, fused: 2, compute: { asked: 1, fused: 1 }, integerKernels: { QLinearConv: 1 }, unfused: [{ name: 'add', opType: 'Add', became: 'Add' }] },
      notes: ['batch 8: fixed batch of 1'],
    },
    { name: 'FP16', path: 'c.onnx', bytes: 2 ** 19, latency: [{ batch: 1, p50Ms: 3, p90Ms: 3.5, samplesPerSecond: 333 }], fidelity: [{ output: 'y', sqnrDb: 60, top1Agreement: 1 }, { output: 'z', sqnrDb: Number.POSITIVE_INFINITY, top1Agreement: undefined }] },
  ],
  notes: ['measured interleaved'],
};

describe('renderReport', () => {
  const html = renderReport(doc);

  it('is one self-contained page: no script to run, no external resource', () => {
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.doesNotMatch(html, /<script(?! type="application\/json")/);
    assert.doesNotMatch(html, /\b(src|href)=/);
    assert.doesNotMatch(html, /url\(/);
  });

  it('embeds the same document as JSON, safe inside the page', () => {
    const match = /<script type="application\/json" id="kiln-report-data">(.*?)<\/script>/s.exec(html);
    assert.ok(match);
    // JSON has no Infinity: the identical FP16 output's SQNR reads null there, and undefined fields are left out.
    assert.deepEqual(JSON.parse(match[1]!), JSON.parse(JSON.stringify(doc)));
    assert.equal(html.match(/<\/script>/g)?.length, 1, 'a name holding </script> is escaped');
  });

  it('draws size, latency, fidelity, agreement, trade-off and layer charts, and the fusion table', () => {
    const captions = [...html.matchAll(/<figcaption>(.*?)<\/figcaption>/g)].map((match) => match[1]!);
    assert.equal(captions.length, 6, captions.join(' | '));
    assert.ok(captions.some((caption) => caption.startsWith('Trade-off')), 'two quantized models give a trade-off chart');
    assert.match(html, /∞ \(identical\)/);
    assert.match(html, /<table class="fusion">/);
    assert.match(html, /add \(Add → Add\)/);
    assert.match(html, /batch 8: fixed batch of 1/);
    assert.match(html, /4\.00×|2\.00×/, 'speed-up against the first model');
  });
});
