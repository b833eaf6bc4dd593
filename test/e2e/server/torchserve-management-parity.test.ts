/**
 * TorchServe's own postman management cases (pytorch/serve test/postman/management_data.json,
 * run in order by its regression suite, which checks only the status) replayed against a real
 * `kiln serve`: each case must answer as TorchServe 0.12 does, or be one of the deliberate
 * differences below, which docs/server.md lists with the same titles and reasons. The two
 * cases that download from torchserve.pytorch.org are left out (no network), leaving 80.
 * The archives are noop archives under TorchServe's model names.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DESCRIBING_HANDLER_FILE, writeNoopArchive, writeTwoHandlerArchive } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

/** Why kiln answers differently, keyed by the title docs/server.md uses for the same row. */
export const DELIBERATE_DIFFERENCES = {
  'Integer parameters are checked':
    'A non-integer or out-of-bounds worker, batch or timeout parameter is a 400; TorchServe serves with its default instead (or answers 500 for min_worker=-1), so a typo silently changes how the model is served.',
  'startup_timeout=0 is refused':
    'No worker can load in 0 s: TorchServe registers such a model (200 without workers, 500 once it tries to start one); kiln refuses the value (bounds: 1 s and up).',
  'An empty url is a 400':
    '`url=` names no archive: kiln says "Parameter url is required." (400) as for a missing url; TorchServe REST answers 404 "empty url" while its own gRPC API answers INVALID_ARGUMENT.',
  'A Python handler is refused at registration':
    '`handler=x.py` (or a TorchServe-only built-in) can never run in kiln, which has no Python runtime: 400 at once, the rule a manifest handler already follows; TorchServe registers it and fails when a worker starts.',
  'Only the typescript runtime':
    '`runtime=` other than typescript (python, python3, LSP included) is a 400 "Invalid RuntimeType value: …": kiln cannot run what those runtimes name.',
  'A request past clientTimeoutInMills gets a 408':
    'TorchServe drops the request without a word (the client waits until its own timeout) and also drops the answer of one that expired while running; kiln answers 408 when it drops one from the queue and answers normally once it ran.',
  'An unregister past unregister_model_timeout is already done':
    'Both answer 408 "Timed out while cleaning resources: X"; TorchServe puts the model back and asks for a retry, kiln has already removed it (its snapshot too) and lets its workers finish stopping, so a retried DELETE is a 404.',
} as const;

type Difference = keyof typeof DELIBERATE_DIFFERENCES;

/** What a body must look like: an error's type (and message), a status text, or a list. */
type Shape =
  | { readonly error: string; readonly message?: string | RegExp }
  | { readonly status: string | RegExp }
  | { readonly describe: string }
  | { readonly list: true };

interface Case {
  /** Index in TorchServe's management_data.json. */
  readonly n: number;
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  /** TorchServe's status (the postman data's, 200 when it states none) and body shape. */
  readonly ts: number;
  readonly shape?: Shape;
  /** kiln's answer where it differs on purpose. */
  readonly kiln?: { readonly status: number; readonly shape?: Shape; readonly why: Difference };
}

const registered = (name: string) => ({ status: `Model "${name}" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model.` });
const unregistered = (name: string) => ({ status: `Model "${name}" unregistered` });
const ACCEPTED = { status: 'Processing worker updates...' };
const notFound = (name: string) => ({ error: 'ModelNotFoundException', message: `Model not found: ${name}` });
const badRequest = (message?: RegExp) => ({ error: 'BadRequestException', ...(message ? { message } : {}) });
const JUNK: Difference = 'Integer parameters are checked';
/** A model kiln refused to register is not there to unregister or scale. */
const gone = (name: string, why: Difference) => ({ status: 404, shape: notFound(name), why });

const CASES: readonly Case[] = [
  { n: 0, name: 'Register Model', method: 'POST', path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1', ts: 200, shape: registered('squeezenet1_1') },
  { n: 1, name: 'Register Model Mnist', method: 'POST', path: 'models?url=mnist.mar&model_name=mnist', ts: 200, shape: registered('mnist') },
  { n: 2, name: 'Register Model Densenet161', method: 'POST', path: 'models?url=densenet161.mar&model_name=densenet161', ts: 200, shape: registered('densenet161') },
  // 3: re-registration from https://torchserve.pytorch.org (remote URL, left out).
  { n: 4, name: 'UnRegister Model Densenet161', method: 'DELETE', path: 'models/densenet161', ts: 200, shape: unregistered('densenet161') },
  { n: 5, name: 'Register Model missing url', method: 'POST', path: 'models', ts: 400, shape: badRequest(/^Parameter url is required\.$/) },
  { n: 6, name: 'UnRegister Existing Mnist Model', method: 'DELETE', path: 'models/mnist', ts: 200, shape: unregistered('mnist') },
  // A handler that does not exist is found when a worker loads it, as in TorchServe.
  { n: 7, name: 'Register Mnist Model with Invalid Handler', method: 'POST', path: 'models?url=mnist.mar&model_name=mnist&handler=invalidHandler', ts: 200, shape: registered('mnist') },
  { n: 8, name: 'UnRegister Model mnist', method: 'DELETE', path: 'models/mnist', ts: 200, shape: unregistered('mnist') },
  { n: 9, name: 'Register Mnist Model with Invalid Handler', method: 'POST', path: 'models?url=mnist.mar&model_name=mnist&handler=invalidHandler', ts: 200, shape: registered('mnist') },
  {
    n: 10,
    name: 'Scale Invalid Mnist Handler Model with Min Workers - Synchronous',
    method: 'PUT',
    path: 'models/mnist?min_worker=1&synchronous=true',
    ts: 500,
    shape: { error: 'InternalServerException', message: /^Failed to start workers for model mnist version: 1\.0: .*invalidHandler/ },
  },
  { n: 11, name: 'UnRegister Model mnist', method: 'DELETE', path: 'models/mnist', ts: 200, shape: unregistered('mnist') },
  { n: 12, name: 'Get Model - All Versions', method: 'GET', path: 'models/squeezenet1_1/all', ts: 200, shape: { describe: 'squeezenet1_1' } },
  { n: 13, name: 'Get Model with Version', method: 'GET', path: 'models/squeezenet1_1/1.0', ts: 200, shape: { describe: 'squeezenet1_1' } },
  { n: 14, name: 'Get Valid Model', method: 'GET', path: 'models/squeezenet1_1', ts: 200, shape: { describe: 'squeezenet1_1' } },
  { n: 15, name: 'UnRegister Model', method: 'DELETE', path: 'models/squeezenet1_1', ts: 200, shape: unregistered('squeezenet1_1') },
  {
    n: 16,
    name: 'Register Model invalid Runtime',
    method: 'POST',
    path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1&runtime=python4',
    ts: 400,
    shape: badRequest(/^Invalid RuntimeType value: python4/),
  },
  { n: 17, name: 'List Models', method: 'GET', path: 'models?limit=&next_page_token=', ts: 200, shape: { list: true } },
  { n: 18, name: 'Register Model', method: 'POST', path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1', ts: 200, shape: registered('squeezenet1_1') },
  { n: 19, name: 'Scale Min Workers - Asynchronous', method: 'PUT', path: 'models/squeezenet1_1?min_worker=1', ts: 202, shape: ACCEPTED },
  { n: 20, name: 'Scale Min Workers - Synchronous', method: 'PUT', path: 'models/squeezenet1_1?min_worker=1&synchronous=true', ts: 200, shape: { status: 'Workers scaled to 1 for model: squeezenet1_1' } },
  {
    n: 21,
    name: 'Scale Min Workers for a Version',
    method: 'PUT',
    path: 'models/squeezenet1_1/1.0?min_worker=1&synchronous=true',
    ts: 200,
    shape: { status: 'Workers scaled to 1 for model: squeezenet1_1, version: 1.0' },
  },
  {
    n: 22,
    name: 'Scale Min Workers for a Valid model but Invalid Version',
    method: 'PUT',
    path: 'models/squeezenet1_1/0.0?min_worker=1&synchronous=true',
    ts: 404,
    shape: { error: 'ModelVersionNotFoundException', message: 'Model version: 0.0 does not exist for model: squeezenet1_1' },
  },
  { n: 23, name: 'Scale Min Workers with GPU', method: 'PUT', path: 'models/squeezenet1_1?min_worker=1&number_gpu=1', ts: 202, shape: ACCEPTED },
  {
    n: 24,
    name: 'Set Default Model Version',
    method: 'PUT',
    path: 'models/squeezenet1_1/1.0/set-default',
    ts: 200,
    shape: { status: 'Default version successfully updated for model "squeezenet1_1" to "1.0"' },
  },
  { n: 25, name: 'Set Default Valid Model Invalid Version', method: 'PUT', path: 'models/squeezenet1_1/0.0/set-default', ts: 404, shape: { error: 'ModelVersionNotFoundException' } },
  { n: 26, name: 'Set Default Invalid Model valid Version', method: 'PUT', path: 'models/squeezenet0_1/1.0/set-default', ts: 404, shape: notFound('squeezenet0_1') },
  { n: 27, name: 'UnRegister Model', method: 'DELETE', path: 'models/squeezenet1_1', ts: 200, shape: unregistered('squeezenet1_1') },
  {
    n: 28,
    name: 'Register Model with Additional Params',
    method: 'POST',
    path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1&handler=serve/ts/torch_handler/image_classifier.py:handle',
    ts: 200,
    kiln: { status: 400, shape: { error: 'InvalidModelException', message: /a Python handler 'serve\/ts\/torch_handler\/image_classifier\.py'/ }, why: 'A Python handler is refused at registration' },
  },
  { n: 29, name: 'UnRegister Model', method: 'DELETE', path: 'models/squeezenet1_1', ts: 200, kiln: gone('squeezenet1_1', 'A Python handler is refused at registration') },
  {
    n: 30,
    name: 'Register Model with Additional Params and startup_timeout as 0',
    method: 'POST',
    path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1&batch_size=3&initial_workers=3&startup_timeout=0',
    ts: 500,
    kiln: { status: 400, shape: badRequest(/^Parameter startup_timeout must be an integer from 1 to/), why: 'startup_timeout=0 is refused' },
  },
  {
    n: 31,
    name: 'Register Model with startup_timeout as 0',
    method: 'POST',
    path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1&startup_timeout=0',
    ts: 200,
    kiln: { status: 400, shape: badRequest(/^Parameter startup_timeout/), why: 'startup_timeout=0 is refused' },
  },
  { n: 32, name: 'UnRegister Model', method: 'DELETE', path: 'models/squeezenet1_1', ts: 200, kiln: gone('squeezenet1_1', 'startup_timeout=0 is refused') },
  { n: 33, name: 'Register Model with Batch Size', method: 'POST', path: 'models?url=resnet-152-batch.mar&model_name=resnet152&batch_size=2', ts: 200, shape: registered('resnet152') },
  { n: 34, name: 'UnRegister Model Resnet152', method: 'DELETE', path: 'models/resnet152', ts: 200, shape: unregistered('resnet152') },
  {
    n: 35,
    name: 'Register Model with Non integer Batch Size',
    method: 'POST',
    path: 'models?url=resnet-152-batch.mar&model_name=resnet152&batch_size=dd&initial_workers=1',
    ts: 200,
    kiln: { status: 400, shape: badRequest(/^Parameter batch_size must be an integer from 1 to 4096, got 'dd'\.$/), why: JUNK },
  },
  { n: 36, name: 'UnRegister Model Resnet152', method: 'DELETE', path: 'models/resnet152', ts: 200, kiln: gone('resnet152', JUNK) },
  {
    n: 37,
    name: 'Register Model with integer Batch Size but non integer max batch delay parameter',
    method: 'POST',
    path: 'models?url=resnet-152-batch.mar&model_name=resnet152&batch_size=2&initial_workers=1&max_batch_delay=junk',
    ts: 200,
    kiln: { status: 400, shape: badRequest(/^Parameter max_batch_delay must be an integer/), why: JUNK },
  },
  { n: 38, name: 'UnRegister Model Resnet152', method: 'DELETE', path: 'models/resnet152', ts: 200, kiln: gone('resnet152', JUNK) },
  {
    n: 39,
    name: 'Register Squeezenet Model Negative initial workers',
    method: 'POST',
    path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1&initial_workers=-1',
    ts: 200,
    kiln: { status: 400, shape: badRequest(/^Parameter initial_workers must be an integer from 0 to 64, got '-1'\.$/), why: JUNK },
  },
  { n: 40, name: 'UnRegister Model', method: 'DELETE', path: 'models/squeezenet1_1', ts: 200, kiln: gone('squeezenet1_1', JUNK) },
  { n: 41, name: 'Register Resnet Model Synchronous', method: 'POST', path: 'models?url=resnet-18.mar&model_name=resnet-18&synchronous=true', ts: 200, shape: registered('resnet-18') },
  { n: 42, name: 'UnRegister Model Resnet-18', method: 'DELETE', path: 'models/resnet-18', ts: 200, shape: unregistered('resnet-18') },
  { n: 43, name: 'Register Model non boolean Synchronous value', method: 'POST', path: 'models?url=resnet-18.mar&model_name=resnet-18&synchronous=-1', ts: 200, shape: registered('resnet-18') },
  { n: 44, name: 'UnRegister Model Resnet-18', method: 'DELETE', path: 'models/resnet-18', ts: 200, shape: unregistered('resnet-18') },
  { n: 45, name: 'Register Resnet Model Asynchronous', method: 'POST', path: 'models?url=resnet-18.mar&model_name=resnet-18&synchronous=false', ts: 200, shape: registered('resnet-18') },
  { n: 46, name: 'List with Limit', method: 'GET', path: 'models?limit=1', ts: 200, shape: { list: true } },
  { n: 47, name: 'List with "Negative" Limit Value', method: 'GET', path: 'models?limit=-1', ts: 200, shape: { list: true } },
  { n: 48, name: 'List with Pagination', method: 'GET', path: 'models?limit=1&next_page_token=1', ts: 200, shape: { list: true } },
  { n: 49, name: 'List with "Negative" Pagination', method: 'GET', path: 'models?limit=1&next_page_token=-1', ts: 200, shape: { list: true } },
  { n: 50, name: 'Update GPU Count', method: 'PUT', path: 'models/resnet-18?number_gpu=10', ts: 202, shape: ACCEPTED },
  { n: 51, name: 'Update with "Negative" GPU Count', method: 'PUT', path: 'models/resnet-18?number_gpu=-1', ts: 202, shape: ACCEPTED },
  { n: 52, name: 'Scale up Workers -  Synchronous', method: 'PUT', path: 'models/resnet-18?min_worker=1&max_worker=1&synchronous=true', ts: 200, shape: { status: 'Workers scaled to 1 for model: resnet-18' } },
  { n: 53, name: 'Scale up Workers - Asynchronous', method: 'PUT', path: 'models/resnet-18?min_worker=1&max_worker=1&synchronous=false', ts: 202, shape: ACCEPTED },
  { n: 54, name: 'Update Timeout to -1', method: 'PUT', path: 'models/resnet-18?timeout=-1', ts: 202, shape: ACCEPTED },
  { n: 55, name: 'Update Timeout to 0', method: 'PUT', path: 'models/resnet-18?timeout=0', ts: 202, shape: ACCEPTED },
  {
    n: 56,
    name: 'Register Model - Empty URL , Valid Model Name',
    method: 'POST',
    path: 'models?url=&model_name=resnet-18',
    ts: 404,
    shape: { error: 'ModelNotFoundException', message: 'empty url' },
    kiln: { status: 400, shape: badRequest(/^Parameter url is required\.$/), why: 'An empty url is a 400' },
  },
  // 57: registration from an invalid https://torchserve.pytorch.org URL (remote URL, left out).
  { n: 58, name: 'List Model - Invalid Model', method: 'GET', path: 'models/invalid_squeezenet1_1', ts: 404, shape: notFound('invalid_squeezenet1_1') },
  // squeezenet1_1 is not registered at this point in TorchServe's run either.
  { n: 59, name: 'List Model - Valid model name, Invalid Model version', method: 'GET', path: 'models/squeezenet1_1/0.0', ts: 404, shape: notFound('squeezenet1_1') },
  { n: 60, name: 'List Models - Invalid Next Page Token(Outside registered models range)', method: 'GET', path: 'models?next_page_token=12', ts: 200, shape: { list: true } },
  { n: 61, name: 'Scale Workers - Valid "min_worker" value, Invalid "synchronous"', method: 'PUT', path: 'models/resnet-18?min_worker=1&synchronous=Nan', ts: 202, shape: ACCEPTED },
  {
    n: 62,
    name: 'Scale Workers - Invalid parameter values for both "synchronous" & "min_worker" params',
    method: 'PUT',
    path: 'models/resnet-18?min_worker=nan&synchronous=nan',
    ts: 202,
    kiln: { status: 400, shape: badRequest(/^Parameter min_worker must be an integer from 0 to 64, got 'nan'\.$/), why: JUNK },
  },
  { n: 63, name: 'Scale down workers by Calling Update Workers API with no parameters', method: 'PUT', path: 'models/resnet-18', ts: 202, shape: ACCEPTED },
  { n: 64, name: 'Update Worker for an invalid/non-existent model', method: 'PUT', path: 'models/resnet181?min_worker=1', ts: 404, shape: notFound('resnet181') },
  { n: 65, name: 'Update Worker with Invalid Worker Count', method: 'PUT', path: 'models/resnet-18?min_worker=2&max_worker=1', ts: 400, shape: badRequest(/^max_worker cannot be less than min_worker\.$/) },
  { n: 66, name: 'Update Worker with Positive Worker Count', method: 'PUT', path: 'models/resnet-18?min_worker=1', ts: 202, shape: ACCEPTED },
  { n: 67, name: 'Update Worker with "Zero" Worker Count', method: 'PUT', path: 'models/resnet-18?min_worker=0', ts: 202, shape: ACCEPTED },
  {
    n: 68,
    name: 'Scale worker by calling Update Worker API with negative min worker Count',
    method: 'PUT',
    path: 'models/resnet-18?min_worker=-1',
    ts: 500,
    kiln: { status: 400, shape: badRequest(/^Parameter min_worker must be an integer from 0 to 64, got '-1'\.$/), why: JUNK },
  },
  // TorchServe: 400 "max_worker cannot be less than min_worker." (min defaults to 1); kiln's bound check words it.
  { n: 69, name: 'Scale worker by calling Update Worker API with negative max worker Count', method: 'PUT', path: 'models/resnet-18?max_worker=-1', ts: 400, shape: badRequest() },
  { n: 70, name: 'Update Version - Invalid Model', method: 'PUT', path: 'models/invalid_squeezenet1_1/1.0/set-default', ts: 404, shape: notFound('invalid_squeezenet1_1') },
  { n: 71, name: 'UnRegister Model Resnet-18', method: 'DELETE', path: 'models/resnet-18', ts: 200, shape: unregistered('resnet-18') },
  { n: 72, name: 'UnRegister Valid Model name, but Invalid Model version', method: 'DELETE', path: 'models/squeezenet1_1/0.0', ts: 404, shape: notFound('squeezenet1_1') },
  { n: 73, name: 'Register Model', method: 'POST', path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1', ts: 200, shape: registered('squeezenet1_1') },
  { n: 74, name: 'UnRegister Model with synchronous value as true', method: 'DELETE', path: 'models/squeezenet1_1/?synchronous=true', ts: 200, shape: unregistered('squeezenet1_1') },
  { n: 75, name: 'Register Model', method: 'POST', path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1', ts: 200, shape: registered('squeezenet1_1') },
  { n: 76, name: 'UnRegister Model with synchronous value as non boolean', method: 'DELETE', path: 'models/squeezenet1_1/?synchronous=nan', ts: 200, shape: unregistered('squeezenet1_1') },
  { n: 77, name: 'Register Model', method: 'POST', path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1', ts: 200, shape: registered('squeezenet1_1') },
  { n: 78, name: 'UnRegister Model with synchronous value as non boolean', method: 'DELETE', path: 'models/squeezenet1_1/?timeout=true', ts: 200, shape: unregistered('squeezenet1_1') },
  { n: 79, name: 'Register Model', method: 'POST', path: 'models?url=squeezenet1_1.mar&model_name=squeezenet1_1', ts: 200, shape: registered('squeezenet1_1') },
  {
    n: 80,
    name: 'UnRegister Model with non boolean synchronous value & non integer timeout value',
    method: 'DELETE',
    path: 'models/squeezenet1_1/?timeout=true&synchronous=-1',
    ts: 200,
    shape: unregistered('squeezenet1_1'),
  },
  { n: 81, name: 'UnRegister Invalid Model Name', method: 'DELETE', path: 'models/invalid_squeezenet1_1', ts: 404, shape: notFound('invalid_squeezenet1_1') },
];

function checkShape(shape: Shape | undefined, status: number, body: any, text: string): void {
  if (!shape) return;
  if ('error' in shape) {
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'type'], text);
    assert.equal(body.code, status);
    assert.equal(body.type, shape.error, text);
    if (typeof shape.message === 'string') assert.equal(body.message, shape.message);
    else if (shape.message) assert.match(body.message, shape.message);
  } else if ('status' in shape) {
    if (typeof shape.status === 'string') assert.deepEqual(body, { status: shape.status });
    else assert.match(body.status, shape.status);
  } else if ('describe' in shape) {
    assert.ok(Array.isArray(body) && body.length > 0, text);
    for (const entry of body) assert.equal(entry.modelName, shape.describe);
  } else {
    assert.ok(Array.isArray(body.models), text);
  }
}

describe("TorchServe's postman management cases", () => {
  let server: ServerUnderTest;
  const tally = { matched: 0, different: 0 };

  before(async () => {
    // Worker threads: the cases scale workers up and down, and threads start fastest.
    server = await startServer({ properties: ['enable_model_api=true', 'worker_isolation=thread'] });
    for (const name of ['squeezenet1_1', 'mnist', 'densenet161', 'resnet-152-batch', 'resnet-18']) await writeNoopArchive(server.store, { name });
  });
  after(async () => {
    await server.stop();
    // Printed for the parity count.
    console.log(`parity: ${tally.matched} matched, ${tally.different} deliberate differences, ${CASES.length} cases`);
  });

  test('the table holds the 80 non-remote cases, in TorchServe order', () => {
    assert.equal(CASES.length, 80);
    assert.deepEqual(
      CASES.map((entry) => entry.n),
      Array.from({ length: 82 }, (_, n) => n).filter((n) => n !== 3 && n !== 57),
    );
  });

  for (const entry of CASES) {
    test(`${entry.n}: ${entry.name} (${entry.method} /${entry.path})`, async () => {
      const response = await call(`${server.management}/${entry.path}`, { method: entry.method });
      if (entry.kiln) {
        // A difference that no longer differs must leave the list.
        assert.notEqual(entry.kiln.status, entry.ts, `case ${entry.n} is listed as a difference but TorchServe answers the same status`);
        assert.equal(response.status, entry.kiln.status, response.text);
        checkShape(entry.kiln.shape, response.status, response.body, response.text);
        tally.different++;
      } else {
        assert.equal(response.status, entry.ts, response.text);
        checkShape(entry.shape, response.status, response.body, response.text);
        tally.matched++;
      }
    });
  }

  test('every listed difference is used or tested, and docs/server.md lists the same ones', () => {
    const docs = readFileSync(new URL('../../../docs/server.md', import.meta.url), 'utf8');
    const section = /## Deliberate differences from TorchServe\n([\s\S]*?)(?=\n## )/.exec(docs)?.[1];
    assert.ok(section, 'docs/server.md has a "Deliberate differences from TorchServe" section');
    const rows = [...section.matchAll(/^\| \*\*(.+?)\*\* \|/gm)].map((match) => match[1]);
    assert.deepEqual(rows.sort(), Object.keys(DELIBERATE_DIFFERENCES).sort());
    assert.equal(tally.matched + tally.different, CASES.length);
  });
});

describe('management features and differences beyond the postman cases', () => {
  let server: ServerUnderTest;
  const post = (query: string) => call(`${server.management}/models?${query}`, { method: 'POST' });
  const remove = (model: string) => call(`${server.management}/models/${model}`, { method: 'DELETE' });
  const predict = (model: string, body: string) => call(`${server.inference}/predictions/${model}`, { method: 'POST', body: new TextEncoder().encode(body) });

  before(async () => {
    server = await startServer({ properties: ['enable_model_api=true', 'worker_isolation=thread', 'unregister_model_timeout=1'] });
    await writeNoopArchive(server.store);
    await writeTwoHandlerArchive(server.store, { name: 'two' });
    await writeTwoHandlerArchive(server.store, { name: 'listy', config: 'handler:\n  describe: list\n' });
    await writeTwoHandlerArchive(server.store, { name: 'throwy', config: 'handler:\n  describe: throw\n' });
    // Batches of 2 without delay: a lone request runs at once, and the next waits in the queue.
    await writeNoopArchive(server.store, { name: 'patient', config: 'batchSize: 2\nmaxBatchDelay: 0\nclientTimeoutInMills: 300\n' });
  });
  after(async () => {
    await server.stop();
  });

  test('handler=FILE serves with that handler, and ?customized=true returns its describe() metadata last', async () => {
    const registered = await post(`url=two.mar&handler=${DESCRIBING_HANDLER_FILE}&initial_workers=1`);
    assert.deepEqual(registered.body, { status: 'Model "two" Version: 1.0 registered with 1 initial workers' });
    assert.deepEqual((await predict('two', 'x')).body, { handler: 'describing' });
    const customized = await call(`${server.management}/models/two?customized=true`);
    assert.equal(customized.status, 200);
    assert.equal(customized.body.length, 1);
    assert.deepEqual(customized.body[0].customizedMetadata, { model: 'two', version: '1.0', labels: ['a', 'b'] });
    assert.equal(Object.keys(customized.body[0]).at(-1), 'customizedMetadata');
    assert.equal(customized.body[0].workers.length, 1);
    for (const plain of ['models/two', 'models/two/all?customized=true', 'models/two?customized=no']) {
      const response = await call(`${server.management}/${plain}`);
      assert.equal(response.status, 200);
      assert.ok(!('customizedMetadata' in response.body[0]), plain);
    }
    assert.equal((await remove('two')).status, 200);
  });

  test("without handler= the manifest's handler serves; a handler without describe() adds no customizedMetadata", async () => {
    assert.equal((await post('url=two.mar&initial_workers=1')).status, 200);
    assert.equal((await predict('two', 'x')).body.model, 'two:1.0');
    const customized = await call(`${server.management}/models/two/1.0?customized=true`);
    assert.equal(customized.status, 200);
    assert.ok(!('customizedMetadata' in customized.body[0]));
    assert.equal((await remove('two')).status, 200);
  });

  test('describe() metadata that is not an object reads as {}; a describe() that throws fails only that request', async () => {
    assert.equal((await post(`url=listy.mar&handler=${DESCRIBING_HANDLER_FILE}&initial_workers=1`)).status, 200);
    assert.deepEqual((await call(`${server.management}/models/listy?customized=true`)).body[0].customizedMetadata, {});
    assert.equal((await post(`url=throwy.mar&handler=${DESCRIBING_HANDLER_FILE}&initial_workers=1`)).status, 200);
    const failed = await call(`${server.management}/models/throwy?customized=true`);
    assert.equal(failed.status, 503);
    assert.deepEqual([failed.body.type, failed.body.message], ['InternalServerException', 'Prediction failed']);
    assert.deepEqual((await predict('throwy', 'x')).body, { handler: 'describing' });
    for (const model of ['listy', 'throwy']) assert.equal((await remove(model)).status, 200);
  });

  test('?customized=true without a worker → 503 naming the describe request', async () => {
    assert.equal((await post('url=noop.mar')).status, 200);
    const response = await call(`${server.management}/models/noop?customized=true`);
    assert.equal(response.status, 503);
    assert.deepEqual(response.body, {
      code: 503,
      type: 'ServiceUnavailableException',
      message: 'Model "noop" has no worker to serve describe request. Please use scale workers API to add workers.',
    });
    assert.equal((await remove('noop')).status, 200);
  });

  test('a handler that is not in the archive fails when workers start: 500 with the reason, nothing registered', async () => {
    const response = await post('url=noop.mar&handler=invalidHandler&initial_workers=1');
    assert.equal(response.status, 500);
    assert.equal(response.body.type, 'InternalServerException');
    assert.match(response.body.message, /^Failed to start workers for model noop version: 1\.0: handler 'invalidHandler' is neither a built-in/);
    assert.deepEqual((await call(`${server.management}/models`)).body, { models: [] });
  });

  test(`${'A Python handler is refused at registration' satisfies Difference}: also a TorchServe-only built-in`, async () => {
    for (const handler of ['my_handler.py', 'object_detector']) {
      const response = await post(`url=noop.mar&handler=${handler}`);
      assert.equal(response.status, 400, handler);
      assert.equal(response.body.type, 'InvalidModelException');
      assert.match(response.body.message, new RegExp(`'${handler.replace('.', '\\.')}'.*kiln runs TypeScript handlers`));
    }
  });

  test(`${'Only the typescript runtime' satisfies Difference}: python, python3 and %2e%2e are refused, typescript registers`, async () => {
    for (const runtime of ['python', 'python3', 'LSP', '%2e%2e']) {
      const response = await post(`url=noop.mar&runtime=${runtime}`);
      assert.equal(response.status, 400, runtime);
      assert.deepEqual(response.body, {
        code: 400,
        type: 'BadRequestException',
        message: `Invalid RuntimeType value: ${decodeURIComponent(runtime)} (kiln runs 'typescript' handlers only)`,
      });
    }
    assert.equal((await post('url=noop.mar&runtime=typescript&unknown_parameter=1')).status, 200);
    assert.equal((await remove('noop')).status, 200);
  });

  test("synchronous is read as TorchServe reads it: 'TRUE' waits (200), 'False' and junk do not (202)", async () => {
    assert.equal((await post('url=noop.mar&initial_workers=1&synchronous=False')).status, 202);
    assert.equal((await call(`${server.management}/models/noop?min_worker=1&synchronous=TRUE`, { method: 'PUT' })).status, 200);
    assert.equal((await call(`${server.management}/models/noop?min_worker=1&synchronous=yes`, { method: 'PUT' })).status, 202);
    assert.equal((await remove('noop')).status, 200);
  });

  test(`${'An unregister past unregister_model_timeout is already done' satisfies Difference}: 408, and the running request still gets its answer`, async () => {
    assert.equal((await post('url=noop.mar&initial_workers=1')).status, 200);
    const running = predict('noop', 'sleep:2500');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    const response = await remove('noop');
    assert.deepEqual(response.body, { code: 408, type: 'RequestTimeoutException', message: 'Timed out while cleaning resources: noop' });
    assert.ok(performance.now() - started >= 900, 'it waited unregister_model_timeout (1 s) first');
    assert.equal((await call(`${server.management}/models/noop`)).status, 404);
    assert.equal((await remove('noop')).status, 404);
    assert.equal((await running).status, 200);
  });

  test(`${'A request past clientTimeoutInMills gets a 408' satisfies Difference}: dropped from the queue unrun`, async () => {
    assert.equal((await post('url=patient.mar&initial_workers=1')).status, 200);
    assert.equal((await call(`${server.management}/models/patient`)).body[0].clientTimeoutInMills, 300);
    const first = predict('patient', 'sleep:1000');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const late = await predict('patient', 'x');
    assert.equal(late.status, 408);
    assert.equal(late.body.type, 'RequestTimeoutException');
    assert.match(late.body.message, /^Request dropped: it waited \d+ ms for a worker of model "patient", longer than its clientTimeoutInMills \(300 ms\)\.$/);
    assert.equal((await first).status, 200);
    // A request that does not wait is served.
    assert.equal((await predict('patient', 'x')).status, 200);
    assert.equal((await remove('patient')).status, 200);
  });
});
