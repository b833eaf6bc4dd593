/**
 * Every place that reads or writes the worker, batch, queue and timeout settings derives its keys
 * from the one table (src/core/serving-settings.ts): these checks fail when a place keeps a list
 * of its own that drifts from the table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseModelConfig } from '../archive/model-config.js';
import { parseWorkflowSpec, WORKFLOW_DEFAULTS } from '../archive/workflow-spec.js';
import {
  REGISTER_PARAMS,
  SCALE_PARAMS,
  SERVING_SETTINGS,
  SETTING_PROPERTIES,
  SNAPSHOT_SETTINGS,
  VERSION_SETTINGS,
  WORKFLOW_SETTINGS,
  YAML_SETTINGS,
  type SettingName,
} from '../core/serving-settings.js';
import { resolveSettings, SERVING_DEFAULTS, snapshotSettings } from '../serving/settings.js';
import { PropertiesSchema } from './config-values.js';
import { managementRouter } from './management-api.js';

const NAMES = Object.keys(SERVING_SETTINGS) as SettingName[];

test('model-config.yaml: exactly the yaml settings of the table are server keys, each bounded as the table says', () => {
  const yaml = NAMES.map((name) => `${name}: ${SERVING_SETTINGS[name].bound.min}`).join('\n');
  const parsed = parseModelConfig(yaml);
  assert.deepEqual(Object.keys(parsed.server).sort(), [...YAML_SETTINGS].sort());
  assert.deepEqual(Object.keys(parsed.handler).sort(), NAMES.filter((name) => !SERVING_SETTINGS[name].yaml).sort());
  for (const name of YAML_SETTINGS) {
    const { max, min } = SERVING_SETTINGS[name].bound;
    assert.throws(() => parseModelConfig(`${name}: ${max + 1}`), new RegExp(`${name}: must be at most ${max}`));
    if (min > 0) assert.throws(() => parseModelConfig(`${name}: ${min - 1}`), new RegExp(`${name}: must be at least ${min}`));
  }
});

test('config.properties reads every property of the table, bounded as its setting', () => {
  const shape = Object.keys(PropertiesSchema.shape);
  for (const [property, name] of SETTING_PROPERTIES) {
    assert.ok(shape.includes(property), property);
    const schema = PropertiesSchema.shape[property];
    assert.equal(schema.safeParse(String(SERVING_SETTINGS[name].bound.max)).success, true, property);
    assert.equal(schema.safeParse(String(SERVING_SETTINGS[name].bound.max + 1)).success, false, property);
  }
});

test('resolved settings, snapshots and the defaults have exactly the table\'s keys', () => {
  const resolved = resolveSettings(SERVING_DEFAULTS, {});
  assert.deepEqual(Object.keys(resolved), [...VERSION_SETTINGS]);
  assert.deepEqual(Object.keys(snapshotSettings(resolved)), [...SNAPSHOT_SETTINGS]);
  for (const name of VERSION_SETTINGS) {
    if (name !== 'minWorkers' && name !== 'maxWorkers') assert.equal(resolved[name], SERVING_SETTINGS[name].default, name);
  }
});

test('precedence: rest settings take REST over yaml, yaml settings yaml over REST', () => {
  for (const name of VERSION_SETTINGS) {
    const { precedence } = SERVING_SETTINGS[name];
    if (precedence === 'workers') continue;
    const resolved = resolveSettings(SERVING_DEFAULTS, { [name]: 7 }, { [name]: 5 } as never);
    // Settings no REST parameter sets are yaml's whatever the precedence.
    assert.equal(resolved[name], precedence === 'rest' ? 5 : 7, name);
  }
});

test('REST: the registration and scale routes document every parameter of the table', () => {
  const routes = managementRouter().routes;
  const query = (method: string, pattern: string) => Object.keys(routes.find((r) => r.method === method && r.pattern === pattern)!.doc!.query!);
  for (const { param } of REGISTER_PARAMS) assert.ok(query('POST', '/models').includes(param), param);
  for (const { param } of SCALE_PARAMS) assert.ok(query('PUT', '/models/:model/:version?').includes(param), param);
});

test('workflow specs: every workflow setting of the table is a spec key with the table\'s workflow default', () => {
  const keys = [...WORKFLOW_SETTINGS.keys()].map((key) => `  ${key}: 2\n`).join('');
  const spec = parseWorkflowSpec(`models:\n${keys}  m:\n    url: m.mar\ndag:\n  m: []\n`);
  for (const [key, name] of WORKFLOW_SETTINGS) {
    assert.equal(WORKFLOW_DEFAULTS[name], SERVING_SETTINGS[name].workflow.default, name);
    assert.equal(spec.models.get('m')![name], 2, key);
  }
});
