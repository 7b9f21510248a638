// The package's TypeScript declarations type-check strictly against a usage
// sample (wasm/test/types/usage.ts) with the repository's TypeScript.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('index.d.ts, embedder.d.ts and storage.d.ts type-check a usage sample', async () => {
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  const r = await promisify(execFile)(tsc, ['-p', path.join(root, 'wasm/test/types/tsconfig.json')], { cwd: root })
    .catch((e) => e);
  assert.equal(r.code ?? 0, 0, `${r.stdout ?? ''}${r.stderr ?? ''}`);
});
