import { KILN_VERSION } from '../core/version.js';

const errorResponse = {
  description: 'Error',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: { code: { type: 'integer' }, type: { type: 'string' }, message: { type: 'string' } },
        required: ['code', 'type', 'message'],
      },
    },
  },
};

const statusResponse = {
  description: 'OK',
  content: { 'application/json': { schema: { type: 'object', properties: { status: { type: 'string' } } } } },
};

function operation(summary: string, parameters: string[] = [], extra: Record<string, unknown> = {}) {
  return {
    summary,
    parameters: parameters.map((name) => ({ name, in: 'path', required: !name.endsWith('?'), schema: { type: 'string' } })).map((p) => ({ ...p, name: p.name.replace('?', '') })),
    responses: { '200': statusResponse, '400': errorResponse, '404': errorResponse, '500': errorResponse, '503': errorResponse },
    ...extra,
  };
}

function document(title: string, paths: Record<string, unknown>) {
  return { openapi: '3.0.1', info: { title, version: KILN_VERSION, description: 'kiln: TorchServe-compatible REST API' }, paths };
}

/** The inference port's OpenAPI 3.0.1 description (`OPTIONS /`, `/api-description`). */
export function inferenceOpenApi(): unknown {
  return document('kiln inference API', {
    '/ping': { get: operation('Health: 200 Healthy when every model has its minimum workers, else 500 Unhealthy') },
    '/predictions/{model_name}': { post: operation('Predict with the default version', ['model_name']), put: operation('Predict (curl -T)', ['model_name']) },
    '/predictions/{model_name}/{model_version}': { post: operation('Predict with a version', ['model_name', 'model_version']) },
    '/explanations/{model_name}': { post: operation('Explain with the default version', ['model_name']) },
    '/v1/models/{model_name}:predict': { post: operation('KServe v1 predict', ['model_name']) },
    '/invocations': { post: operation('SageMaker-style predict (?model_name=)') },
    '/wfpredict/{workflow_name}': { post: operation("Run a workflow's DAG; the response is its leaf node's output", ['workflow_name']) },
    // Open Inference Protocol v2 (errors there are {"error": message}).
    '/v2/health/live': { get: operation('OIP v2: 200 {"live": true} while the server answers') },
    '/v2/health/ready': { get: operation('OIP v2: 200 {"ready": true} when every model has a ready worker, else 503') },
    '/v2': { get: operation('OIP v2 server metadata: name, version, extensions') },
    '/v2/models/{model_name}': { get: operation('OIP v2 model metadata (ONNX inputs and outputs)', ['model_name']) },
    '/v2/models/{model_name}/ready': { get: operation('OIP v2 model readiness', ['model_name']) },
    '/v2/models/{model_name}/infer': { post: operation('OIP v2 inference (JSON, or binary tensor data)', ['model_name']) },
    '/v2/models/{model_name}/versions/{model_version}/infer': { post: operation('OIP v2 inference on a version', ['model_name', 'model_version']) },
  });
}

/** The management port's OpenAPI 3.0.1 description. */
export function managementOpenApi(): unknown {
  return document('kiln management API', {
    '/models': {
      get: operation('List models (limit, next_page_token)'),
      post: operation('Register a model archive (url, model_name, batch_size, max_batch_delay, initial_workers, synchronous, response_timeout, startup_timeout)'),
    },
    '/models/{model_name}': {
      get: operation('Describe a model', ['model_name']),
      put: operation('Scale workers (min_worker, max_worker, synchronous)', ['model_name']),
      delete: operation('Unregister the default version', ['model_name']),
    },
    '/models/{model_name}/{model_version}': {
      get: operation('Describe a version, or all with "all"', ['model_name', 'model_version']),
      put: operation('Scale a version', ['model_name', 'model_version']),
      delete: operation('Unregister a version', ['model_name', 'model_version']),
    },
    '/models/{model_name}/{model_version}/set-default': { put: operation('Set the default version', ['model_name', 'model_version']) },
    '/workflows': {
      get: operation('List workflows (limit, next_page_token)'),
      post: operation('Register a workflow archive (url, workflow_name, response_timeout, startup_timeout)'),
    },
    '/workflows/{workflow_name}': {
      get: operation('Describe a workflow', ['workflow_name']),
      delete: operation('Unregister a workflow and its models', ['workflow_name']),
    },
  });
}
