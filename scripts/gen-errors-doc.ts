// Regenerates docs/errors.md from the catalogue: npm run docs:errors. The errors test checks the two agree.
import { ERROR_CATALOGUE } from '../src/core/errors.js';
const lines = ['# Error codes', '',
'Every error kiln raises on purpose carries a stable `code`. Codes are never reused or renamed;',
'a retired code stays listed as retired. The `kind` decides the HTTP status and exit code; the',
'wire type is the TorchServe exception name the server sends in `{code, type, message}` bodies.',
'`src/core/errors.ts` is the catalogue and a test checks this page against it in both directions.', '',
'| code | kind | wire type | meaning |', '|---|---|---|---|'];
for (const [code, e] of Object.entries(ERROR_CATALOGUE)) lines.push(`| \`${code}\` | ${e.kind} | ${e.wireType} | ${e.summary} |`);
console.log(lines.join('\n'));
