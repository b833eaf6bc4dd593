/**
 * MANIFEST.json lies: missing or wrong-typed fields, files that are absent or outside the
 * archive, runtimes kiln does not run, names and versions that are paths or enormous.
 */
import { ECHO_HANDLER, manifest, writeMar, type Expectation, type HostileKind } from './kind.js';
import type { RawZipEntry } from './zip-bytes.js';

const refused = { outcome: 'refused' } as const;
const HUGE = 'a'.repeat(100_000);

/** A kind whose archive is the echo handler under `manifestText` (plus `extra` entries). */
function lie(name: string, manifestText: string, expect: Expectation = refused, extra: readonly RawZipEntry[] = [], todo?: string): HostileKind {
  return {
    name,
    group: 'manifest',
    expect,
    ...(todo ? { todo } : {}),
    write: ({ store }) => writeMar(store, name, [{ name: 'MAR-INF/MANIFEST.json', data: manifestText }, { name: 'handler.cjs', data: ECHO_HANDLER }, ...extra]),
  };
}

/** A worker-start failure, or a refusal at registration, whose message carries `cause`. */
const startFails = (cause: RegExp): Expectation => ({ outcome: 'start-fails', cause, orRefused: true });


export const MANIFEST_KINDS: readonly HostileKind[] = [
  {
    name: 'manifest-missing',
    group: 'manifest',
    expect: refused,
    write: ({ store }) => writeMar(store, 'manifest-missing', [{ name: 'handler.cjs', data: ECHO_HANDLER }]),
  },
  lie('manifest-not-json', '{"runtime": "typescript", "model": {'),
  lie('manifest-array', '[]'),
  lie('manifest-no-model', JSON.stringify({ runtime: 'typescript' })),
  lie('manifest-name-number', manifest('x', { modelName: 42 })),
  lie('manifest-no-handler', manifest('manifest-no-handler', { handler: undefined })),
  lie('manifest-handler-object', manifest('manifest-handler-object', { handler: { file: 'handler.cjs' } })),
  lie('manifest-version-empty', manifest('manifest-version-empty', { modelVersion: '' })),
  lie('manifest-extra-fields', manifest('manifest-extra-fields', { notes: 'n'.repeat(1_000_000), nested: { deep: [1, 2, 3] } }, { unknownTop: true }), {
    outcome: 'serves',
    predict: 'ok',
    worker: 'kept',
  }),
  lie('manifest-serialized-missing', manifest('manifest-serialized-missing', { serializedFile: 'nope.onnx' })),
  lie('manifest-serialized-escape', manifest('manifest-serialized-escape', { serializedFile: '../../../../../../etc/passwd' })),
  lie('manifest-serialized-absolute', manifest('manifest-serialized-absolute', { serializedFile: '/etc/passwd' })),
  // A folder where the model file should be.
  lie('manifest-serialized-folder', manifest('manifest-serialized-folder', { serializedFile: 'model.onnx' }), refused, [{ name: 'model.onnx/inner.bin', data: 'x' }]),
  lie('manifest-handler-missing-file', manifest('manifest-handler-missing-file', { handler: 'gone.cjs' }), startFails(/gone\.cjs/)),
  lie('manifest-handler-escape', manifest('manifest-handler-escape', { handler: '../../../../../../etc/passwd' }), startFails(/etc\/passwd/)),
  lie('manifest-handler-absolute', manifest('manifest-handler-absolute', { handler: '/etc/passwd' }), startFails(/etc\/passwd/)),
  lie('manifest-handler-huge', manifest('manifest-handler-huge', { handler: `${'h'.repeat(100_000)}.cjs` }), startFails(/neither a built-in|not a file|handler/)),
  lie('manifest-runtime-java', manifest('manifest-runtime-java', {}, { runtime: 'java' })),
  lie('manifest-runtime-python', manifest('manifest-runtime-python', { handler: 'handler.py' }, { runtime: 'python' })),
  lie('manifest-name-dot-dot', manifest('../escape')),
  lie('manifest-name-slash', manifest('a/b')),
  lie('manifest-name-huge', manifest(HUGE)),
  lie('manifest-version-dot-dot', manifest('manifest-version-dot-dot', { modelVersion: '../../../tmp/x' })),
  lie('manifest-version-huge', manifest('manifest-version-huge', { modelVersion: HUGE })),
  lie('manifest-config-escape', manifest('manifest-config-escape', { configFile: '../../../../../../etc/hostname' })),
  lie('manifest-config-missing', manifest('manifest-config-missing', { configFile: 'gone.yaml' })),
];
