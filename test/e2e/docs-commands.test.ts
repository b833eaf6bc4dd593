/**
 * Every command of the ```sh blocks in README.md and docs/*.md runs, in order, as a reader would
 * run it (issue 15, acceptance 5). Each file gets a fresh working copy (node_modules and
 * examples/ linked in, `.kiln-demo/` from the README's own `npx kiln demo`), `npx kiln` runs
 * bin/kiln.mjs, and curl fails on an HTTP error. Servers listen on free loopback ports: the copy
 * has a config.properties with port 0, and the addresses `kiln serve` prints replace
 * localhost:8080/8081/8082 in the commands after it. Only {@link SKIPPED} is not run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { extractShellCommands, stripComment, type DocCommand } from '../fixtures/doc-commands.js';

const REPO = new URL('../../', import.meta.url).pathname;
const KILN = join(REPO, 'bin', 'kiln.mjs');
/** README first: its `npx kiln demo` writes the `.kiln-demo/` the other docs use. */
const DOCS = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

/** The commands not run, each with its reason. Every entry must match a command of the docs. */
const SKIPPED: ReadonlyMap<string, string> = new Map([['npm test', 'the whole suite, this test included']]);

/**
 * `npm install && …` (the README's one-line quick start) runs without its install: that reaches
 * the npm registry (network), and this test runs inside an installed tree.
 */
const INSTALL_PREFIX = 'npm install && ';
const withoutInstall = (text: string): string => (text.startsWith(INSTALL_PREFIX) ? text.slice(INSTALL_PREFIX.length) : text);

const root = mkdtempSync(join(tmpdir(), 'kiln-docs-'));
after(() => rmSync(root, { recursive: true, force: true }));

const commandsByDoc = new Map(DOCS.map((doc) => [doc, extractShellCommands(readFileSync(join(REPO, doc), 'utf8'), doc)] as const));

/** `npx kiln` → this checkout's bin/kiln.mjs; curl → the real one, failing on HTTP errors. */
function writeShims(): string {
  const bin = join(root, 'shims');
  mkdirSync(bin);
  const realCurl = spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
  const shims = {
    npx: `#!/bin/sh\n[ "$1" = kiln ] || { echo "docs test: only 'npx kiln' is mapped, not npx $1" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${KILN}" "$@"\n`,
    curl: realCurl ? `#!/bin/sh\nexec "${realCurl}" --silent --show-error --fail-with-body "$@"\n` : `#!/bin/sh\necho "docs test: curl is not installed" >&2\nexit 127\n`,
  };
  for (const [name, text] of Object.entries(shims)) {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}
const shims = writeShims();

/** A fresh working copy for one doc. */
function workingCopy(doc: string): string {
  const dir = join(root, doc.replace(/[/.]/g, '-'));
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(REPO, 'examples'), join(dir, 'examples'));
  if (doc !== 'README.md') symlinkSync(join(root, 'README-md', '.kiln-demo'), join(dir, '.kiln-demo'));
  // Free ports instead of 8080-8082; the first `kiln serve` reads this, later ones its snapshot.
  writeFileSync(join(dir, 'config.properties'), ['inference_address=http://127.0.0.1:0', 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0'].join('\n'));
  return dir;
}

function environment(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${shims}:${process.env['PATH'] ?? ''}`, TMPDIR: join(dir, 'tmp'), KILN_LOG_LEVEL: 'warn', KILN_DEBUG: '' };
  delete env['LOG_LOCATION'];
  delete env['TS_CONFIG_FILE'];
  return env;
}

/** `localhost:8080` and friends → the address the running server printed for that API. */
function substitutePorts(text: string, addresses: ReadonlyMap<string, string>): string {
  return text.replace(/\b(?:localhost|127\.0\.0\.1):(808[0-2])\b/g, (found, port: string) => addresses.get(port) ?? found);
}

function printedAddresses(stdout: string): Map<string, string> {
  const addresses = new Map<string, string>();
  for (const [port, api] of [['8080', 'inference'], ['8081', 'management'], ['8082', 'metrics']] as const) {
    const address = new RegExp(`^${api} +http://(\\S+)$`, 'm').exec(stdout)?.[1];
    assert.ok(address, `kiln serve printed no ${api} line:\n${stdout}`);
    addresses.set(port, address);
  }
  return addresses;
}

function label(command: DocCommand): string {
  return `${command.file}:${command.line}: ${command.text.length > 110 ? `${command.text.slice(0, 107)}...` : command.text}`;
}

test('the command extractor joins continued lines and drops comments, not # inside quotes', () => {
  const markdown = ['```sh', 'A=1   # set', '# a comment line', "npx kiln x \\", "  --y '#not' \"a # b\" # tail", '```', '```ts', 'not a command', '```'].join('\n');
  assert.deepEqual(extractShellCommands(markdown, 'm.md'), [
    { file: 'm.md', line: 2, text: 'A=1' },
    { file: 'm.md', line: 4, text: 'npx kiln x --y \'#not\' "a # b"' },
  ]);
  assert.equal(stripComment('curl http://h/#frag'), 'curl http://h/#frag');
});

test('every skipped command is in the docs, and only the allow-listed ones are skipped', () => {
  const all = [...commandsByDoc.values()].flat().map((command) => command.text);
  for (const skipped of SKIPPED.keys()) assert.ok(all.includes(skipped), `SKIPPED lists '${skipped}', which no doc has any more`);
  assert.ok(all.some((text) => withoutInstall(text) === 'npx kiln demo'), 'the README runs the demo');
});

for (const doc of DOCS) {
  test(`${doc}: every sh command runs`, async (t) => {
    const commands = commandsByDoc.get(doc)!;
    if (commands.length === 0) return t.skip('no sh blocks');
    const dir = workingCopy(doc);
    const env = environment(dir);
    const assignments: string[] = [];
    let addresses = new Map<string, string>();
    try {
      for (const command of commands) {
        const reason = SKIPPED.get(command.text);
        if (reason) {
          await t.test(label(command), (sub) => sub.skip(reason));
          continue;
        }
        if (/^[A-Za-z_][A-Za-z0-9_]*=\S*$/.test(command.text)) {
          assignments.push(command.text); // a shell variable the next commands use
          continue;
        }
        await t.test(label(command), () => {
          const script = `set -o pipefail; ${assignments.map((assignment) => `${assignment}; `).join('')}${substitutePorts(withoutInstall(command.text), addresses)}`;
          const run = spawnSync('bash', ['-c', script], { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
          assert.equal(run.status, 0, `exit ${run.status ?? run.signal}\nstdout: ${run.stdout.slice(-2000)}\nstderr: ${run.stderr.slice(-2000)}`);
          if (/^npx kiln serve\b/.test(command.text)) addresses = printedAddresses(run.stdout);
          if (/^npx kiln stop\b/.test(command.text)) addresses = new Map();
        });
      }
    } finally {
      // A doc that failed half-way may leave its server running.
      if (existsSync(join(dir, 'tmp', 'kiln.pid'))) spawnSync(process.execPath, [KILN, 'stop'], { cwd: dir, env, encoding: 'utf8' });
    }
  });
}
