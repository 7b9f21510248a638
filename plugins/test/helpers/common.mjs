// Paths and build helpers shared by the plugin tests.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../../..');
export const PLUGINS = path.join(ROOT, 'plugins');
export const BUILD = path.join(ROOT, 'build/plugins');
export const DATA = path.join(ROOT, 'tests/data/plugins');
export const ARTIFACTS = path.join(ROOT, 'build/test-artifacts/plugins');
export const WASM_PKG = path.resolve(ROOT, process.env.FOLDBACK_WASM_PKG || 'build/wasm/package');
export const OFFICE_JS = 'https://appsforoffice.microsoft.com/lib/1/hosted/office.js';

/** Builds the plugins unless run.sh already did. */
export async function ensureBuilt() {
  if (!existsSync(path.join(BUILD, 'browser/manifest.json')) || !existsSync(path.join(BUILD, 'word/manifest.xml'))) {
    const { build } = await import(pathToFileURL(path.join(PLUGINS, 'build.mjs')).href);
    await build();
  }
  await mkdir(ARTIFACTS, { recursive: true });
}

/** Bundles a plugin TypeScript module for Node (unit tests) and imports it. */
export async function loadTs(entry) {
  const outfile = path.join(ROOT, 'build/plugins-test', entry.replace(/\.ts$/, '.mjs'));
  await esbuild.build({
    entryPoints: [path.join(PLUGINS, entry)], outfile, bundle: true, format: 'esm', platform: 'node',
    target: 'node20', logLevel: 'warning',
    alias: {
      '@foldback/core': path.join(WASM_PKG, 'index.js'),
      '@foldback/core/storage': path.join(WASM_PKG, 'storage.js'),
      '@foldback/core/host': path.join(WASM_PKG, 'host.js'),
    },
    // The package is loaded as it is (it reads its .wasm next to itself).
    external: [path.join(WASM_PKG, '*')],
    define: { __FOLDBACK_ALLOWED_ORIGINS__: '["http://127.0.0.1:*","http://localhost:*"]', __FOLDBACK_VERSION__: '"test"', __FOLDBACK_SERVER_ORIGINS__: '[]' },
  });
  return import(pathToFileURL(outfile).href + `?t=${Date.now()}`);
}

export async function readData(...parts) {
  return readFile(path.join(DATA, ...parts));
}

export async function listData(dir, ext) {
  return (await readdir(path.join(DATA, dir))).filter((f) => f.endsWith(ext)).sort();
}
