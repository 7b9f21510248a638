// Outlook .msg reading speed in the JS package (readMsg: the core's reader
// through embind, text attachments decoded in JS), on the files
// tests/bench/msg_bench.cc reads natively. MB/s of .msg file, best of 5
// rounds of N reads.
//
//   node wasm/bench/msg_bench.mjs [N]
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const { readMsg } = await import(pkg);
const n = Number(process.argv[2] || 200);
for (const f of ['msg/mail-parser/mail_outlook_1.msg', 'msg/generated/all_properties.msg']) {
  const bytes = await readFile(path.join(root, 'tests/data', f));
  await readMsg(bytes);  // load the module, warm up
  let best = Infinity;
  for (let round = 0; round < 5; ++round) {
    const t0 = performance.now();
    for (let i = 0; i < n; ++i) await readMsg(bytes, { name: 'x.msg', id: 'x' });
    best = Math.min(best, (performance.now() - t0) / n);
  }
  console.log(`${f}: ${(bytes.length / 1e6 / (best / 1000)).toFixed(1)} MB/s (${best.toFixed(3)} ms per file)`);
}
