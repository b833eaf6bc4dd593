/**
 * `npm run image:context`: the build context of the container image (Containerfile) in
 * build/image-context/: app/ holds the packed kiln tarball and a consumer project pinned to this
 * repository's lockfile (scripts/consumer-project.ts), and config.properties is the image's
 * default server configuration. Run `npm run build` first; the tarball is made from dist/.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeConsumerProject } from './consumer-project.js';

const REPO = new URL('../', import.meta.url).pathname;
const context = join(REPO, 'build', 'image-context');
const app = join(context, 'app');

if (!existsSync(join(REPO, 'dist', 'cli', 'bin.js'))) {
  process.stderr.write('image:context: dist/ is missing: run npm run build first\n');
  process.exit(1);
}
rmSync(context, { recursive: true, force: true });
mkdirSync(app, { recursive: true });
// --ignore-scripts: `prepare` would build again; dist/ is already there.
const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: REPO, encoding: 'utf8' });
if (pack.status !== 0) {
  process.stderr.write(`image:context: npm pack failed: ${pack.stderr}\n`);
  process.exit(1);
}
const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }];
writeConsumerProject(REPO, app, `./${filename}`, 'kiln-image');
copyFileSync(join(REPO, 'deploy', 'image', 'config.properties'), join(context, 'config.properties'));
process.stdout.write(`${context}\n`);
