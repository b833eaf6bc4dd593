/**
 * The HTML report as a person sees it: `kiln optimize` on the PP-OCR orientation classifier
 * (labelled lines: accuracy charts, the trade-off scatter, per-layer SQNR, the fusion table) and
 * `kiln compare` on unlabelled lines (fidelity charts), each opened in headless Chromium (Debian's
 * `chromium`, driven by playwright-core; never a downloaded browser). Checks: no console error or
 * page error, no request leaves the page, and every chart drew marks with a visible size. The
 * optimize page's screenshot goes to the test's folder, or to docs/images/optimize-report.png
 * with KILN_UPDATE_SCREENSHOT=1.
 *
 * Skips only when /usr/bin/chromium is absent outside CI; in CI (`CI` set) a missing browser fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLS_LABELS, renderDemoPage } from '../../../src/cli/demo-assets.js';
import { PP_OCR } from '../models.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const DOCS_SCREENSHOT = new URL('../../../docs/images/optimize-report.png', import.meta.url).pathname;
const PREPROCESS = 'resize=height:48:192,mean=0.5,std=0.5,order=bgr';
const WORDS = ['kiln', 'invoice 2026', 'total 1,250.40', 'ONNX Runtime', 'batch 8', 'TorchServe', 'predict', 'order #4471'];

const present = existsSync(CHROMIUM);
const skip = !present && !process.env['CI'] ? `${CHROMIUM} is not installed (apt-get install chromium); this test runs wherever it is, and always in CI` : false;

function kiln(...args: string[]): string {
  const run = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8' });
  assert.equal(run.status, 0, `kiln ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

interface PageCheck {
  readonly errors: readonly string[];
  readonly requests: readonly string[];
  /** Per chart: its caption and how many marks have a visible size. */
  readonly charts: readonly { readonly title: string; readonly marks: number }[];
  readonly tables: number;
}

/** Opens `html` in Chromium, collects console errors and outside requests, and counts each chart's drawn marks. */
async function openPage(html: string, screenshot?: string): Promise<PageCheck> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1040, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('request', (request) => !request.url().startsWith('file:') && requests.push(request.url()));
    await page.goto(`file://${html}`, { waitUntil: 'load' });
    const charts = await page.$$eval('figure.chart', (figures) =>
      figures.map((figure) => ({
        title: figure.querySelector('figcaption')?.textContent ?? '',
        marks: [...figure.querySelectorAll('svg .mark')].filter((mark) => {
          const box = (mark as unknown as { getBoundingClientRect(): { width: number; height: number } }).getBoundingClientRect();
          return box.width > 0 && box.height > 0;
        }).length,
      })),
    );
    const tables = await page.$$eval('table', (found) => found.length);
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    return { errors, requests, charts, tables };
  } finally {
    await browser.close();
  }
}

describe('the HTML report in headless Chromium', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-report-browser-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = join(dir, 'lines');
  const labels = join(dir, 'index_to_name.json');
  const CLS = PP_OCR[0].path;

  before(async () => {
    assert.ok(present, `${CHROMIUM} is missing in CI: .ci/run installs it`);
    writeFileSync(labels, CLS_LABELS);
    for (const [label, rotate180] of [['upright', false], ['upside-down', true]] as const) {
      mkdirSync(join(lines, label), { recursive: true });
      for (const [index, words] of WORDS.entries()) {
        writeFileSync(join(lines, label, `line-${index}.png`), await renderDemoPage([words], { rotate180, margin: 4, fontSize: 24 + (index % 3) * 6 }));
      }
    }
  });

  it('kiln optimize --report: the ladder page has no console errors, no outside requests, and every chart drew', async () => {
    const html = join(dir, 'optimize.html');
    const text = kiln('optimize', CLS, '--data', lines, '--labels', labels, '--preprocess', PREPROCESS, '--out-dir', join(dir, 'ladder'), '--iterations', '5', '--report', html);
    assert.match(text, /static MSE/);
    const doc = JSON.parse(readFileSync(join(dir, 'optimize.json'), 'utf8')) as { models: { name: string; accuracy?: { top1: number } }[] };
    assert.deepEqual(doc.models.map((model) => model.name), ['FP32', 'FP16', 'dynamic INT8', 'static MinMax', 'static MSE']);
    assert.ok(doc.models[0]!.accuracy!.top1 > 0.9, `FP32 top-1 ${doc.models[0]!.accuracy!.top1}`);
    const screenshot = process.env['KILN_UPDATE_SCREENSHOT'] ? DOCS_SCREENSHOT : join(dir, 'optimize-report.png');
    const page = await openPage(html, screenshot);
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.requests, []);
    const titles = page.charts.map((chart) => chart.title);
    for (const expected of [/^Size/, /^Latency/, /^Accuracy/, /^Trade-off/, /weight SQNR per quantized layer/]) {
      assert.ok(titles.some((title) => expected.test(title)), `no chart ${expected} in ${titles.join(' | ')}`);
    }
    for (const chart of page.charts) assert.ok(chart.marks > 0, `chart '${chart.title}' drew no marks`);
    // Size: one bar per rung; latency: batch 1 and 8 per rung.
    assert.equal(page.charts.find((chart) => chart.title.startsWith('Size'))!.marks, 5);
    assert.equal(page.charts.find((chart) => chart.title.startsWith('Latency'))!.marks, 10);
    assert.equal(page.tables, 2, 'the summary and the fusion table');
    assert.ok(statSync(screenshot).size > 10_000, 'a screenshot with content');
  });

  it('kiln compare --report on unlabelled data: fidelity charts drawn, JSON beside the page', async () => {
    const ladder = join(dir, 'ladder');
    const stem = 'ch_ppocr_mobile_v2.0_cls_infer';
    const html = join(dir, 'compare.html');
    kiln('compare', CLS, join(ladder, `${stem}.static-mse.onnx`), join(ladder, `${stem}.fp16.onnx`), '--data', join(lines, 'upright'), '--preprocess', PREPROCESS, '--iterations', '5', '--report', html);
    const page = await openPage(html);
    assert.deepEqual(page.errors, []);
    const titles = page.charts.map((chart) => chart.title);
    assert.ok(titles.some((title) => title.startsWith('Fidelity')), titles.join(' | '));
    assert.ok(titles.some((title) => title.startsWith('Top-1 agreement')), titles.join(' | '));
    for (const chart of page.charts) assert.ok(chart.marks > 0, `chart '${chart.title}' drew no marks`);
    const doc = JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as { data: { metric: string; samples: number } };
    assert.deepEqual(doc.data.metric, 'fidelity');
    assert.equal(doc.data.samples, WORDS.length);
  });
});
