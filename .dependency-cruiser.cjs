// The layer rule of ../shared/design.md, enforced: imports point down only.
//   core <- {onnx, runtime, archive, metrics, image} <- {quantize, evaluate, handlers} <- {optimize, serving} <- server <- cli
// optimize (the quantize pipeline, comparisons and the trade-off ladder) and serving share a layer:
// the offline tool and the model server never import each other.
// Folders in the same layer never import each other (handlers may read archive types, a lower layer).
const LAYERS = [
  ['core'],
  ['onnx', 'runtime', 'archive', 'metrics', 'image'],
  ['quantize', 'evaluate', 'handlers'],
  ['optimize', 'serving'],
  ['server'],
  ['cli'],
];

const rules = [];
LAYERS.forEach((layer, rank) => {
  const below = LAYERS.slice(0, rank).flat();
  for (const folder of layer) {
    const allowed = [folder, ...below].join('|');
    rules.push({
      name: `layer-${folder}`,
      comment: `src/${folder} may import only ${allowed.split('|').join(', ')} (design.md layer rule)`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: '^src/', pathNot: `^src/(${allowed})/` },
    });
  }
});

module.exports = {
  forbidden: [
    ...rules,
    {
      name: 'server-not-engine',
      comment: 'HTTP code talks to serving, never to the model layer, the engine or the quantizer (it may name their data types: HostTensor, SignatureEntry)',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/(onnx|runtime|quantize|evaluate)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'server-not-handlers',
      comment: "HTTP code reaches handlers only through serving (inferTensors, predict); it may name their data types (HandlerResponse), never their internals (DECODED_TENSORS, the tensor bundle)",
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/handlers/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-runtime-imports-onnxruntime',
      comment: 'src/runtime is the one importer of onnxruntime-node (errors are wrapped once there)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/runtime/' },
      to: { path: 'onnxruntime-(node|common)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-tests',
      comment: 'library code never imports tests, fixtures or benchmarks',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
