import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ZipFile } from 'yazl';
import { writeArchive } from './write.js';
import { openWorkflowArchive, writeWorkflowArchive } from './workflow-archive.js';
import { parseWorkflowManifest } from './workflow-manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-war-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (text: string) => ({ bytes: new TextEncoder().encode(text) });
const SPEC = 'models:\n  m:\n    url: m.mar\ndag:\n  pre: [m]\n';

test('write → open: WAR-INF/MANIFEST.json with the archiver fields, spec parsed, files at the root', async () => {
  const written = await writeWorkflowArchive({
    workflowName: 'wf',
    spec: { name: 'spec.yaml', source: bytes(SPEC) },
    handler: { name: 'handler.cjs', source: bytes('exports.pre = (data) => data;\n') },
    extraEntries: [{ name: 'labels.txt', source: bytes('a\n') }],
    exportPath: dir,
    force: false,
  });
  assert.equal(written.path, join(dir, 'wf.war'));
  assert.deepEqual(written.files, ['WAR-INF/MANIFEST.json', 'spec.yaml', 'handler.cjs', 'labels.txt']);
  const archive = await openWorkflowArchive(written.path);
  try {
    assert.deepEqual(Object.keys(archive.manifest), ['createdOn', 'runtime', 'workflow', 'archiverVersion']);
    assert.match(archive.manifest.createdOn, /^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/);
    assert.deepEqual(archive.manifest.workflow, { workflowName: 'wf', specFile: 'spec.yaml', handler: 'handler.cjs' });
    assert.equal(archive.spec.dag.start, 'pre');
    assert.equal(archive.spec.models.get('m')?.url, 'm.mar');
    assert.equal(readFileSync(archive.handlerPath, 'utf8'), 'exports.pre = (data) => data;\n');
    assert.deepEqual([...archive.files].sort(), ['WAR-INF/MANIFEST.json', 'handler.cjs', 'labels.txt', 'spec.yaml']);
  } finally {
    await archive.remove();
  }
  assert.equal(existsSync(archive.dir), false, 'remove() deletes the extracted files');
  await assert.rejects(
    writeWorkflowArchive({ workflowName: 'wf', spec: { name: 'spec.yaml', source: bytes(SPEC) }, handler: { name: 'h.cjs', source: bytes('') }, exportPath: dir, force: false }),
    /already exists/,
  );
});

test('a model archive, a bad spec or a manifest that names a missing file is refused', async () => {
  const mar = await writeArchive({ modelName: 'm', modelVersion: '1.0', handler: 'tensor', entries: [], exportPath: dir, format: 'default', force: true });
  await assert.rejects(openWorkflowArchive(mar.path), /not a workflow archive \(no WAR-INF\/MANIFEST\.json\)/);
  const cyclic = await writeWorkflowArchive({
    workflowName: 'cyclic',
    spec: { name: 'spec.yaml', source: bytes('dag:\n  a: [b]\n  b: [c]\n  c: [b]\n') },
    handler: { name: 'handler.cjs', source: bytes('') },
    exportPath: dir,
    force: true,
  });
  await assert.rejects(openWorkflowArchive(cyclic.path), (error: Error & { code?: string }) => error.code === 'KILN_SERVE_WORKFLOW_INVALID' && /cycle \(b → c → b\)/.test(error.message));
  // A hand-made .war whose manifest names a handler the archive lacks.
  const zip = new ZipFile();
  const manifest = { createdOn: 'x', workflow: { workflowName: 'h', specFile: 'spec.yaml', handler: 'gone.cjs' }, archiverVersion: '1' };
  zip.addBuffer(Buffer.from(JSON.stringify(manifest)), 'WAR-INF/MANIFEST.json');
  zip.addBuffer(Buffer.from(SPEC), 'spec.yaml');
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  writeFileSync(join(dir, 'gone.war'), Buffer.concat(chunks));
  await assert.rejects(openWorkflowArchive(join(dir, 'gone.war')), /names handler 'gone\.cjs', which is not in the archive/);
});

test('a manifest without createdOn, archiverVersion or a valid workflow name is refused, as TorchServe refuses it', () => {
  const base = { createdOn: '01/01/2025 00:00:00', workflow: { workflowName: 'w', specFile: 's.yaml', handler: 'h.py' }, archiverVersion: '0.2.15' };
  assert.equal(parseWorkflowManifest(JSON.stringify(base), 'w.war').workflow.handler, 'h.py', "TorchServe's own manifest (no runtime) reads");
  for (const broken of [{ ...base, createdOn: undefined }, { ...base, archiverVersion: undefined }, { ...base, workflow: { ...base.workflow, workflowName: '../x' } }, { createdOn: 'x', archiverVersion: 'y' }]) {
    assert.throws(() => parseWorkflowManifest(JSON.stringify(broken), 'w.war'), (error: Error & { code?: string }) => error.code === 'KILN_ARCHIVE_MANIFEST_INVALID');
  }
});
