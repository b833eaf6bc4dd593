import type { Logger } from '../core/log.js';
import type { ModelRegistry } from '../serving/registry.js';
import type { WorkflowRegistry } from '../serving/workflow-registry.js';
import type { OipDecoder } from './oip/decoder.js';
import type { CorsConfig, ResponseContext } from './http/response.js';
import type { TokenAuth } from './auth.js';
import type { ServiceEnvelope } from './config-values.js';

/** Settings the routes read; resolved once from config.properties and flags. */
export interface ApiSettings {
  readonly maxRequestSize: number;
  readonly maxResponseSize: number;
  readonly decodeInputRequest: boolean;
  readonly enableModelApi: boolean;
  readonly cors?: CorsConfig;
  /** `service_envelope`: `kserve` wraps every handler route's body (see ../handlers/kserve-envelope.ts). */
  readonly serviceEnvelope?: ServiceEnvelope;
  /** Models loaded at startup, for `/invocations` without `model_name`. */
  readonly startupModels: readonly string[];
}

/** Per-request context handed to every route. */
export interface RequestContext extends ResponseContext {
  readonly logger: Logger;
  readonly registry: ModelRegistry;
  readonly workflows: WorkflowRegistry;
  /** Decodes Open Inference Protocol requests (large JSON ones off the event loop). */
  readonly oip: OipDecoder;
  readonly settings: ApiSettings;
  /** Milliseconds since the request arrived. */
  readonly started: number;
  /** The keys, when token authorization is on (`/token` rotates them). */
  readonly auth?: TokenAuth;
}
