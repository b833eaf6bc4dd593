import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProperties, parseProperties } from './properties.js';

const parse = (text: string): Record<string, string> => Object.fromEntries(parseProperties(text));

test('the three separators, and whitespace around them', () => {
  assert.deepEqual(parse('a=1\nb: 2\nc 3\n  d  =  4\ne\t:\t5\nf   =   =6\ng\n'), {
    a: '1',
    b: '2',
    c: '3',
    d: '4',
    e: '5',
    f: '=6',
    g: '',
  });
});

test('comment and blank lines are skipped; a later key overrides an earlier one', () => {
  const text = '# comment = no\n! also a comment\n\n   \n  # indented comment\nkey=first\nkey=second\n';
  assert.deepEqual([...parseProperties(text)], [['key', 'second']]);
});

test('a # or ! after the start of a line is value text', () => {
  assert.deepEqual(parse('url=http://x/#frag\nbang=!yes\n'), { url: 'http://x/#frag', bang: '!yes' });
});

test('trailing whitespace of a value is kept, leading is not', () => {
  assert.deepEqual(parse('k =   v  \n'), { k: 'v  ' });
});

test('an odd number of trailing backslashes continues the line', () => {
  const text = 'models=a.mar,\\\n      b.mar,\\\n\tc.mar\nnext=1\n';
  assert.deepEqual(parse(text), { models: 'a.mar,b.mar,c.mar', next: '1' });
});

test('an even number of trailing backslashes does not continue', () => {
  assert.deepEqual(parse('path=C:\\\\dir\\\\\nnext=1\n'), { path: 'C:\\dir\\', next: '1' });
});

test('a continuation line starting with # is value text, not a comment', () => {
  assert.deepEqual(parse('k=a\\\n  #b\n'), { k: 'a#b' });
});

test('a comment line is never continued', () => {
  assert.deepEqual(parse('# comment \\\nk=v\n'), { k: 'v' });
});

test('a whitespace-only continuation line ends the logical line', () => {
  assert.deepEqual(parse('k=a\\\n   \nj=b\n'), { k: 'a', j: 'b' });
});

test('a trailing backslash at the end of the file is dropped', () => {
  assert.deepEqual(parse('k=abc\\'), { k: 'abc' });
});

test('escapes: \\t \\n \\r \\f \\\\ \\uXXXX, escaped separators and any other escaped char', () => {
  const text = 'a=1\\t2\\n3\\r4\\f5\\\\6\nb=\\u00e9\\u4E2D\\uD83D\\uDE00\nmy\\ key\\=x\\:y=v\\ w\nc=\\q\\#\\!\n';
  assert.deepEqual(parse(text), {
    a: '1\t2\n3\r4\f5\\6',
    b: 'é中😀',
    'my key=x:y': 'v w',
    c: 'q#!',
  });
});

test('an escaped leading space of a value is kept', () => {
  assert.deepEqual(parse('k=\\  v\n'), { k: '  v' });
});

test('a malformed \\u escape names its line', () => {
  assert.throws(() => parseProperties('a=1\nb=\\u12G4\n'), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_SERVE_CONFIG_INVALID');
    assert.match(error.message, /line 2: malformed \\uXXXX/);
    return true;
  });
  assert.throws(() => parseProperties('b=\\u12'), { code: 'KILN_SERVE_CONFIG_INVALID' });
});

test('Windows and old-Mac line endings, and a byte-order mark', () => {
  const text = '\uFEFFa=1\r\nb=x\\\r\n   y\r\n# c=3\r\nd=4\re=5';
  assert.deepEqual(parse(text), { a: '1', b: 'xy', d: '4', e: '5' });
});

test('an empty key and an empty text', () => {
  assert.deepEqual(parse('=v\n'), { '': 'v' });
  assert.equal(parseProperties('').size, 0);
});

test('format escapes what needs escaping', () => {
  assert.equal(formatProperties([['model_store', '/srv/models']]), 'model_store=/srv/models\n');
  assert.equal(formatProperties([['a b', ' x y ']]), 'a\\ b=\\ x y \n');
  assert.equal(formatProperties([['k', 'a=b:c#d!e\\f']]), 'k=a\\=b\\:c\\#d\\!e\\\\f\n');
  assert.equal(formatProperties([['k', 'é\n\t']]), 'k=\\u00E9\\n\\t\n');
});

test('round trip: parse(format(x)) returns x for awkward keys and values', () => {
  const entries: Array<[string, string]> = [
    ['plain', 'value'],
    ['', 'empty key'],
    ['empty value', ''],
    ['  spaced key  ', '  spaced value  '],
    ['seps=:', '=:= leading separator'],
    ['#comment-like', '!bang'],
    ['back\\slash', 'ends in backslash\\'],
    ['controls', '\t\n\r\f\u0000\u001f\u007f'],
    ['unicode', 'é 中 😀 \u2028'],
    ['json', JSON.stringify({ name: 'snap', models: { m: { '1.0': { marName: 'm.mar' } } } }, null, 2)],
  ];
  const text = formatProperties(entries);
  assert.match(text, /^[\x20-\x7e\n]*$/, 'the output is printable ASCII');
  assert.deepEqual([...parseProperties(text)], entries);
});

test('round trip the other way: a TorchServe snapshot line', () => {
  const line = 'model_snapshot={\\n  "name"\\: "20250101000000000-snapshot.cfg",\\n  "modelCount"\\: 0,\\n  "models"\\: {}\\n}\n';
  const parsed = parseProperties(line);
  assert.deepEqual(JSON.parse(parsed.get('model_snapshot')!), { name: '20250101000000000-snapshot.cfg', modelCount: 0, models: {} });
  assert.deepEqual(parseProperties(formatProperties(parsed)), parsed);
});
