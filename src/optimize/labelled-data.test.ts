import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { isKilnError } from '../core/errors.js';
import { parseImagePreprocess } from '../quantize/data/index.js';
import { isImageFolderTree, openLabelledData, parseIndexToName } from './labelled-data.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-labelled-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tree = join(dir, 'images');
const OPTIONS = { input: 'x', preprocess: parseImagePreprocess('resize=stretch:4x4') };

before(async () => {
  for (const [label, count] of [['tench', 3], ['goldfish', 1]] as const) {
    mkdirSync(join(tree, label), { recursive: true });
    for (let index = 0; index < count; index++) {
      await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: index * 40, g: 0, b: 0 } } }).png().toFile(join(tree, label, `${index}.png`));
    }
  }
  writeFileSync(join(dir, 'flat.png'), '');
});

describe('labelled data (ImageFolder layout)', () => {
  it('reads TorchServe index_to_name.json, by name and by WordNet id', () => {
    const byName = parseIndexToName(JSON.stringify({ 0: ['n01440764', 'tench'], 1: 'goldfish' }), 'labels.json');
    assert.deepEqual([...byName], [['n01440764', 0], ['tench', 0], ['goldfish', 1]]);
    assert.throws(() => parseIndexToName('[1]', 'labels.json'), isKilnError);
    assert.throws(() => parseIndexToName('{"x": "a"}', 'labels.json'), /not a class index/);
  });

  it('tells a tree of class folders from a flat folder', () => {
    assert.equal(isImageFolderTree(tree), true);
    assert.equal(isImageFolderTree(dir), false, 'a folder with a file beside the class folders');
    assert.equal(isImageFolderTree(join(tree, 'tench')), false);
  });

  it('yields the classes in turn with their indices (sorted folder order without labels), and a limit samples every class', async () => {
    const data = openLabelledData(tree, OPTIONS);
    assert.deepEqual(data.classes, [{ folder: 'goldfish', index: 0 }, { folder: 'tench', index: 1 }]);
    let count = 0;
    for await (const sample of data.source.samples()) {
      assert.deepEqual(sample['x']!.dims, [1, 3, 4, 4]);
      count++;
    }
    assert.equal(count, 4);
    assert.deepEqual(data.labels, [0, 1, 1, 1]);
    const limited = openLabelledData(tree, { ...OPTIONS, limit: 2 });
    for await (const _ of limited.source.samples());
    assert.deepEqual(limited.labels, [0, 1]);
  });

  it('maps folders through the labels file, and names a folder it lacks', () => {
    const labels = join(dir, 'index_to_name.json');
    writeFileSync(labels, JSON.stringify({ 0: 'tench', 1: 'goldfish' }));
    assert.deepEqual(openLabelledData(tree, OPTIONS, labels).classes, [{ folder: 'goldfish', index: 1 }, { folder: 'tench', index: 0 }]);
    writeFileSync(labels, JSON.stringify({ 0: 'tench' }));
    assert.throws(() => openLabelledData(tree, OPTIONS, labels), /'goldfish' is not a class name/);
  });
});
