// The npm package as bundlers see it: its exports map offers package.json and
// the .wasm (for `?url` imports that hand the engine its wasmUrl), engines and
// repository are declared, and esbuild resolves all of it through the
// package name, as an application's build would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkgDir = path.dirname(process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js'));
const manifest = JSON.parse(await readFile(path.join(pkgDir, 'package.json'), 'utf8'));

test('package.json: exports ./package.json and the .wasm; engines; repository', async () => {
  assert.equal(manifest.exports['./package.json'], './package.json');
  assert.equal(manifest.exports['./foldback_core.wasm'], './foldback_core.wasm');
  assert.match(manifest.engines?.node ?? '', /^>=\d+/);
  assert.equal(manifest.repository?.type, 'git');
  assert.equal(manifest.repository?.directory, 'wasm');
  // Every export target is shipped (in "files") and built.
  for (const [key, target] of Object.entries(manifest.exports)) {
    for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
      const name = file.replace(/^\.\//, '');
      assert.ok(name === 'package.json' || manifest.files.includes(name), `${key}: ${name} is in "files"`);
      assert.ok(existsSync(path.join(pkgDir, name)), `${key}: ${name} is in the built package`);
    }
  }
});

test('package.json: the build writes repository.url when told it, and refuses a package.json without repository', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'foldback-pkgjson-'));
  try {
    const run = (args) => promisify(execFile)('cmake', [...args, '-P', path.join(root, 'wasm/package_json.cmake')]).catch((e) => e);
    const out = path.join(tmp, 'package.json');
    const r = await run([`-DIN=${path.join(root, 'wasm/package.json')}`, `-DOUT=${out}`, '-DREPO=git+https://git.firm.example/foldback.git']);
    assert.ok(!(r instanceof Error), String(r.stderr ?? r));
    const written = JSON.parse(await readFile(out, 'utf8'));
    assert.deepEqual(written.repository, { type: 'git', directory: 'wasm', url: 'git+https://git.firm.example/foldback.git' });
    assert.deepEqual(written.exports, JSON.parse(await readFile(path.join(root, 'wasm/package.json'), 'utf8')).exports);
    const bad = path.join(tmp, 'bad.json');
    await writeFile(bad, '{"name": "x"}');
    const e = await run([`-DIN=${bad}`, `-DOUT=${path.join(tmp, 'o.json')}`]);
    assert.ok(e instanceof Error, 'a package.json without repository is refused');
    assert.match(e.stderr, /no repository object/);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('esbuild resolves @foldback/core/package.json and a ?url import of the .wasm through the exports map', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'foldback-bundle-'));
  try {
    // An application with the package installed under its name.
    await mkdir(path.join(tmp, 'node_modules/@foldback'), { recursive: true });
    await symlink(pkgDir, path.join(tmp, 'node_modules/@foldback/core'), 'dir');
    await writeFile(path.join(tmp, 'app.js'), [
      "import pkg from '@foldback/core/package.json';",
      "import wasmUrl from '@foldback/core/foldback_core.wasm?url';",
      "import { createEngine } from '@foldback/core';",
      'export const version = pkg.version;',
      'export const url = wasmUrl;',
      'export const start = () => createEngine({ wasmUrl: new URL(wasmUrl, import.meta.url).href });',
    ].join('\n'));
    const outdir = path.join(tmp, 'dist');
    const r = await esbuild.build({
      absWorkingDir: tmp, entryPoints: ['app.js'], bundle: true, format: 'esm', platform: 'browser', outdir,
      loader: { '.wasm': 'file' }, external: ['node:*'], metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    assert.ok(inputs.some((i) => i.endsWith('@foldback/core/package.json') || i.endsWith('package/package.json')), `package.json resolved: ${inputs}`);
    const wasmOut = Object.keys(r.metafile.outputs).find((o) => o.endsWith('.wasm'));
    assert.ok(wasmOut, 'the .wasm is emitted as a file');
    assert.deepEqual(await readFile(path.join(tmp, wasmOut)), await readFile(path.join(pkgDir, 'foldback_core.wasm')), 'the same bytes');
    const js = await readFile(path.join(outdir, 'app.js'), 'utf8');
    assert.ok(js.includes(JSON.stringify(manifest.version)) || js.includes(`version: "${manifest.version}"`), 'the version is bundled');
    assert.ok(js.includes(`./${path.basename(wasmOut)}`), 'the wasm URL points at the emitted file');

    // What the exports map does not offer stays private: a deep import fails.
    await writeFile(path.join(tmp, 'deep.js'), "import '@foldback/core/foldback_core.mjs';");
    await assert.rejects(esbuild.build({ absWorkingDir: tmp, entryPoints: ['deep.js'], bundle: true, write: false, logLevel: 'silent' }),
      (e) => e.errors.some((x) => /Could not resolve/.test(x.text) && x.notes.some((n) => /not exported/.test(n.text))));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
