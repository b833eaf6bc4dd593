/**
 * The config.properties keys kiln accepts and does not act on. TorchServe's own deployment files
 * (KServe's `/mnt/models/config/config.properties` above all) carry keys that only mean something
 * to a JVM front end or a Python backend; refusing them would make those files unusable, and
 * ignoring them in silence would let an operator believe they work. So each one is accepted and
 * named once in the log at start, with the reason it changes nothing here.
 */
import { PropertiesSchema } from './config-values.js';

/** A key kiln read past, and why it changes nothing. */
export interface IgnoredProperty {
  readonly key: string;
  readonly reason: string;
}

const PYTHON = 'kiln runs no Python: handlers are JavaScript bundled into the archive';
const JVM = 'a setting of TorchServe\'s Java front end; Node has no equivalent';
const GPU = 'kiln serves on CPU (onnxruntime-node), and chooses execution providers itself';

/** TorchServe's keys (ConfigManager's names) that kiln accepts without acting on them. */
const TORCHSERVE_ONLY: Readonly<Record<string, string>> = {
  install_py_dep_per_model: `${PYTHON}, so there are no per-model pip requirements to install`,
  default_service_handler: PYTHON,
  python: PYTHON,
  ipex_enable: PYTHON,
  ipex_gpu_enable: PYTHON,
  cpu_launcher_enable: PYTHON,
  cpu_launcher_args: PYTHON,
  system_metrics_cmd: PYTHON,
  cpp_log_config: 'kiln has no C++ backend',
  number_of_netty_threads: `${JVM}: one event loop serves every connection`,
  netty_client_threads: JVM,
  prefer_direct_buffer: JVM,
  use_native_io: JVM,
  io_ratio: JVM,
  async_logging: `${JVM}; kiln's logger is already asynchronous`,
  blacklist_env_vars: 'handlers run in kiln\'s own worker threads or processes, which see no config environment',
  number_of_gpu: GPU,
  initial_worker_port: 'kiln workers talk over in-process channels or IPC, not TCP ports',
  initial_distribution_port: 'kiln has no distributed (torchrun) workers',
  grpc_management_address: 'kiln has no gRPC management API (the REST one is complete)',
  grpc_management_port: 'kiln has no gRPC management API (the REST one is complete)',
  grpc_inference_max_connection_age_ms: 'kiln\'s gRPC listener keeps connections until the client closes them',
  grpc_inference_max_connection_age_grace_ms: 'kiln\'s gRPC listener keeps connections until the client closes them',
  enable_grpc_ssl: 'kiln\'s gRPC listener is plain text',
  metrics_config: 'kiln\'s metric families are fixed (docs/server.md)',
  model_metrics_auto_detect: 'kiln\'s metric families are fixed (docs/server.md)',
  metric_time_interval: 'kiln samples system metrics when /metrics is read',
  limit_max_image_pixels: 'kiln\'s image decoder always refuses images over 100 megapixels',
  workflow_store: 'workflow archives are read from model_store',
  model_server_home: 'kiln finds its own files',
  ts_open_inference_protocol: 'kiln always answers the Open Inference Protocol on /v2 (and over gRPC with grpc_inference_port)',
  ts_header_key_sequence_id: 'kiln has no sequence batching',
  ts_header_key_sequence_start: 'kiln has no sequence batching',
  ts_header_key_sequence_end: 'kiln has no sequence batching',
  ts_request_sequence_id: 'kiln has no sequence batching',
  ts_request_sequence_start: 'kiln has no sequence batching',
  ts_request_sequence_end: 'kiln has no sequence batching',
  debug: 'kiln\'s log level is KILN_LOG_LEVEL',
  version: 'a snapshot\'s record of the server version that wrote it',
  // Older spellings found in TorchServe's KServe examples.
  metrics_format: 'not a TorchServe key (an old spelling of metrics_mode); set metrics_mode',
};

/**
 * The keys of a config file that kiln accepts without acting on, each with its reason: TorchServe
 * keys kiln has no use for, then any other key (TorchServe ignores unknown keys too, and its
 * KServe example carries one, `NUM_WORKERS`). Keys kiln reads are not listed.
 * @example ignoredProperties(new Map([['install_py_dep_per_model', 'true']]))
 * // [{ key: 'install_py_dep_per_model', reason: 'kiln runs no Python: ...' }]
 */
export function ignoredProperties(properties: ReadonlyMap<string, string>): IgnoredProperty[] {
  const ignored: IgnoredProperty[] = [];
  for (const key of properties.keys()) {
    if (key in PropertiesSchema.shape) continue;
    ignored.push({ key, reason: TORCHSERVE_ONLY[key] ?? 'not a key TorchServe or kiln reads' });
  }
  return ignored;
}
