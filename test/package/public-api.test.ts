/**
 * The public API's shape, pinned (issue 12): the names each entry point exports and the types
 * a user writes against. `npm run typecheck` checks the `expectTypeOf` lines (a changed type
 * fails it); the runtime test checks that every entry point exports exactly the names listed,
 * so a name added or removed by accident (an `export *` of an inner module) fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectTypeOf } from 'expect-type';
import type { Engine, HostTensor, KilnError, LoadedModel, QuantizeOptions, QuantizeReport, ReadModelOptions } from 'kiln';
import type { ModelArchiveOptions, OpenedArchive, WrittenModelArchive } from 'kiln/archive';
import type { KilnServer, StartServerOptions } from 'kiln/server';
import type { Handler, HandlerSteps, RequestInput } from 'kiln/handler';
import * as kiln from '../../src/index.js';
import * as archive from '../../src/api/archive.js';
import * as server from '../../src/api/server.js';
import * as handler from '../../src/handlers/api.js';

// Types: what a user's code is written against.
expectTypeOf<typeof kiln.readModel>().parameters.toEqualTypeOf<[path: string, options?: ReadModelOptions]>();
expectTypeOf<typeof kiln.readModel>().returns.toEqualTypeOf<LoadedModel>();
expectTypeOf<typeof kiln.Engine.load>().returns.resolves.toEqualTypeOf<Engine>();
expectTypeOf<Engine['run']>().returns.resolves.toEqualTypeOf<Record<string, HostTensor>>();
expectTypeOf<typeof kiln.quantizeModel>().returns.resolves.toMatchTypeOf<{ readonly report: QuantizeReport }>();
expectTypeOf<QuantizeOptions['scheme']>().toEqualTypeOf<'U8S8' | 'S8S8' | undefined>();
expectTypeOf<typeof archive.createModelArchive>().parameters.toEqualTypeOf<[options: ModelArchiveOptions]>();
expectTypeOf<typeof archive.createModelArchive>().returns.resolves.toEqualTypeOf<WrittenModelArchive>();
expectTypeOf<WrittenModelArchive['preprocessFolded']>().toEqualTypeOf<boolean>();
expectTypeOf<typeof archive.openArchive>().returns.resolves.toEqualTypeOf<OpenedArchive>();
expectTypeOf<ModelArchiveOptions>().toHaveProperty('modelName').toEqualTypeOf<string>();
expectTypeOf<ModelArchiveOptions['format']>().toEqualTypeOf<'default' | 'zip-store' | 'tgz' | 'no-archive' | undefined>();
expectTypeOf<typeof server.startServer>().parameters.toEqualTypeOf<[options?: StartServerOptions]>();
expectTypeOf<typeof server.startServer>().returns.resolves.toEqualTypeOf<KilnServer>();
expectTypeOf<KilnServer['stop']>().returns.resolves.toBeVoid();
expectTypeOf<StartServerOptions['properties']>().toEqualTypeOf<Readonly<Record<string, string>> | undefined>();
expectTypeOf<typeof handler.defineHandler<readonly RequestInput[], number>>().parameters.toEqualTypeOf<[steps: HandlerSteps<readonly RequestInput[], number>]>();
expectTypeOf<typeof handler.defineHandler>().returns.toEqualTypeOf<Handler>();
expectTypeOf<InstanceType<typeof handler.KilnError>>().toEqualTypeOf<KilnError>();

/** Each entry point's names, sorted: the list a reviewer sees change. */
const EXPORTS: Readonly<Record<string, readonly string[]>> = {
  kiln: [
    'CALIBRATION_DEFAULTS', 'CALIBRATION_METHODS', 'DataType', 'Engine', 'GraphView', 'KILN_VERSION', 'KilnError',
    'LATENCY_DEFAULTS', 'QUANTIZE_DEFAULTS', 'SqnrAccumulator', 'argmax', 'availableProviders', 'calibrationConfig',
    'checkFusion', 'compareLatency', 'compareModels', 'convertToFloat16', 'createLogger', 'decodeModel', 'decodeTensor',
    'describeError', 'encodeModel', 'encodeTensor', 'float16ToFloat32', 'float32ToFloat16', 'hostTensor', 'imageFolderSource',
    'isKilnError', 'loadRanges', 'makeAttribute', 'makeFeeds', 'makeModel', 'makeNode', 'makeValueInfo', 'maxAbsError',
    'measureLatency', 'moduleSource', 'npyFolderSource', 'openCalibrationSource', 'opsetVersion', 'parseImagePreprocess',
    'parseNpy', 'quantize', 'quantizeArchive', 'quantizeDynamic', 'quantizeModel', 'quantizeWithAccuracyPasses',
    'quantizeWithBudget', 'readModel', 'resolveImagePreprocess', 'resolveQuantizeOptions', 'runLadder', 'runtimeVersion',
    'saveRanges', 'silentLogger', 'sqnrDb', 'summarizeModel', 'thresholdAgreement', 'top1Agreement', 'writeModel',
  ],
  'kiln/archive': [
    'EXTRACT_DEFAULTS', 'KILN_RUNTIME', 'MANIFEST_FILE', 'archivePath', 'createManifest', 'createModelArchive',
    'encodeManifest', 'extractArchive', 'openArchive', 'openWorkflowArchive', 'parseManifest', 'parseModelConfig', 'workflowArchivePath',
    'writeArchive', 'writeWorkflowArchive',
  ],
  'kiln/server': ['DEFAULT_SERVER_CONFIG', 'KilnServer', 'parseProperties', 'resolveServerConfig', 'startServer'],
  'kiln/handler': ['Engine', 'KilnError', 'PredictionError', 'defineHandler', 'makeFeeds', 'settleEach', 'succeeded'],
};

test('each entry point exports exactly its listed names', () => {
  const actual = { kiln, 'kiln/archive': archive, 'kiln/server': server, 'kiln/handler': handler };
  for (const [entry, names] of Object.entries(EXPORTS)) {
    assert.deepEqual(Object.keys(actual[entry as keyof typeof actual]).sort(), [...names].sort(), entry);
  }
});

test('package.json exports point each entry point at its compiled module and its types', async () => {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown>; bin: Record<string, string> };
  const sources: Record<string, string> = { '.': 'index', './archive': 'api/archive', './server': 'api/server', './handler': 'handlers/api' };
  for (const [subpath, module] of Object.entries(sources)) {
    assert.deepEqual(pkg.exports[subpath], { types: `./dist/${module}.d.ts`, default: `./dist/${module}.js` }, subpath);
  }
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './archive', './handler', './package.json', './server']);
  assert.equal(pkg.bin['kiln'], 'dist/cli/bin.js');
});
