// The plugins type-check (strict) against the wasm package's types, Office.js and chrome.*.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { ROOT } from './helpers/common.mjs';

test('tsc --noEmit -p plugins/tsconfig.json', async () => {
  const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
  const r = await promisify(execFile)(tsc, ['-p', path.join(ROOT, 'plugins/tsconfig.json')], { cwd: ROOT }).catch((e) => e);
  assert.equal(r.code ?? 0, 0, `${r.stdout ?? ''}${r.stderr ?? ''}`);
});
