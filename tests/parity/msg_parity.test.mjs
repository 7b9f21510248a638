// Cross-host parity for Outlook .msg files: the native host (`foldback
// extract --json`, the path `foldback ingest` and the C API's ingest take)
// and the JS package (readMsg, in this Node process) read every .msg of
// tests/data/msg (generated files for every property, hostile files, the
// real Outlook message) and must agree:
//   - messages and embedded messages: id, parent id, title, text, kind and
//     every metadata field (the native host's source_path aside);
//   - text attachments (both hosts decode them: UTF-8, else windows-1252):
//     id, parent id, title, text, metadata;
//   - other attachments: the native host's documents of an attachment carry
//     the id the JS package returns the attachment's bytes under;
//   - refusals: both refuse, with the same status and message.
//
//   node tests/parity/msg_parity.test.mjs           (ctest: parity.msg)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const cli = process.env.FOLDBACK_CLI || path.join(root, 'build/bin/foldback');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
for (const [what, file] of [['the CLI', cli], ['the wasm package', pkg]]) {
  if (!existsSync(file)) {
    console.log(`parity.msg: skipped: ${what} is not built (${file}); ./run.sh test builds it`);
    process.exit(77);
  }
}
const { readMsg } = await import(pkg);

const data = path.join(root, 'tests/data/msg');
const files = [];
for (const dir of ['generated', 'mail-parser']) {
  for (const f of (await readdir(path.join(data, dir))).sort()) {
    if (f.endsWith('.msg')) files.push(path.join(data, dir, f));
  }
}

async function native(file) {
  let stdout;
  try {
    ({ stdout } = await run(cli, ['extract', '--json', file], { maxBuffer: 64 << 20 }));
  } catch (e) {
    if (e.code !== 3) throw e;  // 3: the file could not be read; the JSON says why
    stdout = e.stdout;
  }
  return JSON.parse(stdout)[0];
}

function withoutSourcePath(metadata) {
  const { source_path: _, ...rest } = metadata;
  return rest;
}

function view(d) {
  return { id: d.id, parentId: d.parent_id ?? d.parentId ?? '', title: d.title, text: d.text, kind: d.kind, metadata: withoutSourcePath(d.metadata) };
}

test('every .msg reads the same natively and in JS', async () => {
  assert.ok(files.length >= 20, `${files.length} files`);
  let compared = 0;
  for (const file of files) {
    const name = path.basename(file);
    const id = name.replace(/\.msg$/, '');
    const n = await native(file);
    let js;
    let jsError = null;
    try {
      js = await readMsg(await readFile(file), { name, id });
    } catch (e) {
      jsError = e;
    }
    if (n.error) {
      assert.ok(jsError, `${name}: native refuses (${n.error}), JS reads it`);
      // Native: "Code name: message"; JS: FoldbackError "Code name: message".
      assert.equal(jsError.message, n.error, name);
      continue;
    }
    assert.equal(jsError, null, `${name}: JS refuses (${jsError?.message}), native reads it`);
    assert.equal(n.format, 'msg', name);
    const nativeDocs = new Map(n.documents.map((d) => [d.id, d]));
    const jsDocs = new Map(js.documents.map((d) => [d.id, d]));
    // Messages and text attachments: both hosts make them documents.
    for (const d of js.documents) {
      assert.ok(nativeDocs.has(d.id), `${name}: ${d.id} only in JS`);
      assert.deepEqual(view(nativeDocs.get(d.id)), view(d), `${name}: ${d.id}`);
      compared++;
    }
    // Everything else native made a document of is an attachment JS returns
    // with its bytes (or a document inside one: an attached .msg file's own).
    const jsAttachments = js.attachments.map((a) => a.id);
    for (const d of n.documents) {
      if (jsDocs.has(d.id)) continue;
      assert.ok(jsAttachments.some((a) => d.id === a || d.id.startsWith(`${a}/`)),
                `${name}: native document ${d.id} is neither a JS document nor in a JS attachment`);
    }
    assert.deepEqual(n.warnings, js.warnings, name);
  }
  assert.ok(compared >= 30, `${compared} documents compared`);
});
