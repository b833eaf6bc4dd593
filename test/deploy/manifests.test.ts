/**
 * Every manifest under deploy/ validates against the real schemas (issue 12, acceptance 4):
 * Kubernetes' own kinds with the `kubernetes-models` package (its validators are generated from
 * the Kubernetes OpenAPI document), KServe's kinds with the OpenAPI v3 schemas of KServe's
 * CustomResourceDefinitions, read in place from `../shared/schemas/kserve/` (KServe
 * `config/crd/full/` at commit aaac4e2, after v0.20.0-rc0; see that folder's README). Those files
 * are not part of this repository: where they are absent the KServe checks are skipped, saying so.
 *
 * The CRD schemas are applied as the API server applies them with strict field validation (the
 * default of `kubectl apply` since Kubernetes 1.27): a field the schema does not declare is an
 * error, unless the schema preserves unknown fields. A deliberately broken copy of each kind must
 * fail, so that the checks are known to bite.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments, parse } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { parseProperties } from '../../src/core/properties.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy');

/** KServe's CRD files: `KILN_KSERVE_SCHEMAS`, else the shared folder beside the checkout. */
const SCHEMA_DIRS = [process.env['KILN_KSERVE_SCHEMAS'], join(ROOT, '..', 'shared', 'schemas', 'kserve'), '/work/shared/schemas/kserve'].filter((dir): dir is string => !!dir);
const SCHEMA_DIR = SCHEMA_DIRS.find((dir) => existsSync(join(dir, 'serving.kserve.io_inferenceservices.yaml')));
const NO_SCHEMAS = SCHEMA_DIR ? false : `KServe's CRD schemas are not on this machine (looked in ${SCHEMA_DIRS.join(', ')}); set KILN_KSERVE_SCHEMAS to KServe's config/crd/full`;

type Manifest = Record<string, any>;

interface Loaded {
  readonly file: string;
  readonly manifest: Manifest;
}

/** Every YAML document under deploy/, with the file it came from. */
function loadManifests(): Loaded[] {
  const loaded: Loaded[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(name.name)) {
        for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
          assert.deepEqual(document.errors, [], `${path}: YAML errors`);
          loaded.push({ file: path.slice(ROOT.length), manifest: document.toJS() as Manifest });
        }
      }
    }
  };
  walk(DEPLOY);
  return loaded;
}

// ---- Kubernetes kinds ------------------------------------------------------------------------

const KUBERNETES: Record<string, (data: Manifest) => { validate(): void }> = {
  'v1/ConfigMap': (data) => new ConfigMap(data as ConstructorParameters<typeof ConfigMap>[0]),
  'v1/Service': (data) => new Service(data as ConstructorParameters<typeof Service>[0]),
  'apps/v1/Deployment': (data) => new Deployment(data as ConstructorParameters<typeof Deployment>[0]),
  'autoscaling/v2/HorizontalPodAutoscaler': (data) => new HorizontalPodAutoscaler(data as ConstructorParameters<typeof HorizontalPodAutoscaler>[0]),
};

// ---- KServe kinds ----------------------------------------------------------------------------

const CRD_FILES: Record<string, string> = {
  ClusterServingRuntime: 'serving.kserve.io_clusterservingruntimes.yaml',
  ServingRuntime: 'serving.kserve.io_servingruntimes.yaml',
  InferenceService: 'serving.kserve.io_inferenceservices.yaml',
};

/**
 * A structural schema as the API server enforces it with strict field validation: every object
 * schema that lists its properties refuses others, unless it preserves unknown fields or says
 * what other properties may hold. `metadata` is the API server's to check (ObjectMeta).
 */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as object).map(([name, inner]) => [name, strict(inner)])) : strict(value);
  if (out['properties'] && out['additionalProperties'] === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) out['additionalProperties'] = false;
  return out;
}

const validators = new Map<string, ValidateFunction>();

/** The validator of a KServe kind at an apiVersion, compiled once from its CRD. */
function kserveValidator(apiVersion: string, kind: string): ValidateFunction {
  const key = `${apiVersion}/${kind}`;
  const cached = validators.get(key);
  if (cached) return cached;
  const file = CRD_FILES[kind];
  assert.ok(file, `no CRD for KServe kind ${kind}`);
  const crd = parse(readFileSync(join(SCHEMA_DIR as string, file), 'utf8')) as Manifest;
  assert.equal(crd['kind'], 'CustomResourceDefinition');
  const version = (crd['spec']['versions'] as Manifest[]).find((entry) => `${crd['spec']['group']}/${entry['name']}` === apiVersion);
  assert.ok(version, `${file} has no version ${apiVersion}`);
  const schema = strict(version['schema']['openAPIV3Schema']) as Record<string, any>;
  schema['properties']['metadata'] = { type: 'object' };
  // strict: false lets ajv pass over the x-kubernetes-* keywords; formats (int32, quantity) are the API server's.
  // optimize: false: ajv's code optimizer takes most of the 2 MB InferenceService schema's compile time (14 s → 5 s).
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { optimize: false } }).compile(schema);
  validators.set(key, validate);
  return validate;
}

/** The problems of one manifest (empty when valid), by the schema of its kind. */
function problems(manifest: Manifest): string[] {
  const apiVersion = String(manifest['apiVersion']);
  const kind = String(manifest['kind']);
  const k8s = KUBERNETES[`${apiVersion}/${kind}`];
  if (k8s) {
    try {
      k8s(manifest).validate();
      return [];
    } catch (error) {
      return [(error as Error).message];
    }
  }
  if (apiVersion.startsWith('serving.kserve.io/')) {
    const validate = kserveValidator(apiVersion, kind);
    return validate(manifest) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message} ${JSON.stringify(error.params)}`);
  }
  return [`no schema for ${apiVersion} ${kind}`];
}

const manifests = loadManifests();
const byKind = (kind: string): Manifest => {
  const found = manifests.find((entry) => entry.manifest['kind'] === kind);
  assert.ok(found, `no ${kind} under deploy/`);
  return structuredClone(found.manifest);
};
const isKServe = (manifest: Manifest): boolean => String(manifest['apiVersion']).startsWith('serving.kserve.io/');

describe('deploy/ manifests validate against the Kubernetes and KServe schemas', () => {
  test('deploy/ holds the KServe runtime and InferenceService, and the plain Kubernetes set', () => {
    const kinds = manifests.map((entry) => entry.manifest['kind']).sort();
    assert.deepEqual(kinds, ['ClusterServingRuntime', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'InferenceService', 'Service']);
  });

  for (const { file, manifest } of manifests.filter((entry) => !isKServe(entry.manifest))) {
    test(`${file}: ${manifest['kind']} is valid (kubernetes-models)`, () => {
      assert.deepEqual(problems(manifest), []);
    });
  }

  for (const { file, manifest } of manifests.filter((entry) => isKServe(entry.manifest))) {
    test(`${file}: ${manifest['kind']} is valid (KServe CRD schema)`, { skip: NO_SCHEMAS }, () => {
      assert.deepEqual(problems(manifest), []);
    });
  }

  test('a broken Deployment fails: a replica count that is a string, a container without a name', () => {
    const wrongType = byKind('Deployment');
    wrongType['spec']['replicas'] = 'two';
    assert.match(problems(wrongType).join('\n'), /replicas must be integer/);
    const missing = byKind('Deployment');
    delete missing['spec']['template']['spec']['containers'][0]['name'];
    assert.match(problems(missing).join('\n'), /must have required property 'name'|must have required property name/);
    const hpa = byKind('HorizontalPodAutoscaler');
    delete hpa['spec']['scaleTargetRef'];
    assert.match(problems(hpa).join('\n'), /scaleTargetRef/);
  });

  test('a broken ClusterServingRuntime and InferenceService fail: wrong types, a missing required field, an unknown field', { skip: NO_SCHEMAS }, () => {
    const runtime = byKind('ClusterServingRuntime');
    runtime['spec']['protocolVersions'] = 'v1';
    assert.match(problems(runtime).join('\n'), /\/spec\/protocolVersions must be array/);
    const noName = byKind('ClusterServingRuntime');
    delete noName['spec']['supportedModelFormats'][0]['name'];
    assert.match(problems(noName).join('\n'), /\/spec\/supportedModelFormats\/0 must have required property 'name'/);
    const port = byKind('ClusterServingRuntime');
    port['spec']['containers'][0]['ports'][0]['containerPort'] = '8085';
    assert.match(problems(port).join('\n'), /containerPort must be integer/);

    const service = byKind('InferenceService');
    delete service['spec']['predictor'];
    assert.match(problems(service).join('\n'), /must have required property 'predictor'/);
    const typo = byKind('InferenceService');
    typo['spec']['predictor']['model']['storageURI'] = typo['spec']['predictor']['model']['storageUri'];
    delete typo['spec']['predictor']['model']['storageUri'];
    assert.match(problems(typo).join('\n'), /must NOT have additional properties.*storageURI/);
  });

  test('the pieces agree: runtime and InferenceService, config.properties and ports, Service and HPA and Deployment', () => {
    const runtime = byKind('ClusterServingRuntime');
    const service = byKind('InferenceService');
    assert.equal(service['spec']['predictor']['model']['runtime'], runtime['metadata']['name']);
    const formats = (runtime['spec']['supportedModelFormats'] as Manifest[]).map((format) => format['name']);
    assert.ok(formats.includes(service['spec']['predictor']['model']['modelFormat']['name']));
    assert.ok((runtime['spec']['protocolVersions'] as string[]).includes(service['spec']['predictor']['model']['protocolVersion']));

    // TorchServe's KServe config.properties (the ConfigMap holds it as TorchServe's docs write it).
    const properties = parseProperties(byKind('ConfigMap')['data']['config.properties']);
    const port = (key: string) => Number(/:(\d+)$/.exec(properties.get(key) ?? '')?.[1]);
    const [container] = runtime['spec']['containers'] as Manifest[];
    assert.equal(container!['ports'][0]['containerPort'], port('inference_address'));
    assert.equal(runtime['spec']['annotations']['prometheus.kserve.io/port'], String(port('metrics_address')));

    const deployment = byKind('Deployment');
    const pod = deployment['spec']['template'];
    const kiln = pod['spec']['containers'][0];
    assert.deepEqual(kiln['args'], container!['args'], 'the Deployment runs kiln as the KServe runtime does');
    // The same environment, less the envelope that only KServe's label supplies.
    const runtimeEnv = (container!['env'] as Manifest[]).filter((entry) => entry['name'] !== 'TS_SERVICE_ENVELOPE');
    assert.deepEqual(kiln['env'], runtimeEnv);
    const named = Object.fromEntries((kiln['ports'] as Manifest[]).map((entry) => [entry['name'], entry['containerPort']]));
    assert.deepEqual(named, { http: port('inference_address'), grpc: Number(properties.get('grpc_inference_port')), metrics: port('metrics_address') });
    const svc = byKind('Service');
    for (const [key, value] of Object.entries(svc['spec']['selector'] as Record<string, string>)) assert.equal(pod['metadata']['labels'][key], value);
    for (const entry of svc['spec']['ports'] as Manifest[]) assert.ok(entry['targetPort'] in named, `Service port ${entry['name']} targets a container port`);
    const hpa = byKind('HorizontalPodAutoscaler');
    assert.deepEqual(hpa['spec']['scaleTargetRef'], { apiVersion: deployment['apiVersion'], kind: 'Deployment', name: deployment['metadata']['name'] });
    assert.ok(kiln['resources']['requests']['cpu'], 'a CPU utilization target needs a CPU request');
  });
});
