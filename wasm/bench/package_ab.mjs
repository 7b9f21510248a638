// Two or more builds of the npm package side by side in ONE process (issue
// 13 item 7): what a build flag or a change to the call costs, without the
// minute-to-minute drift of a shared machine between two runs of
// search_bench.mjs. Each side is a package directory with its benchmark
// module beside it (DIR/../bench/foldback_bench.mjs, as the build lays them
// out); the corpus is indexed once, by the first side, and every side loads
// that snapshot. The sides' hits must be identical (JSON of every hit of
// every query) or the script stops. Each round times every side in turn on
// the same scoped ContractNLI searches as search_bench.mjs (bm25, top 10,
// `filter: {doc_id}`): engine.search with oneDocument, passages, the
// feedback path, and on a second engine whose index generation moves
// before each call (no hit seen before; the first engine keeps what its
// JS holds), then the core alone inside wasm (scopedMicros). Printed:
// the median over rounds of each case's p50, and for sides 1.. the median
// of the per-round ratios to side 0. Give side 0 twice (first and last) to
// see the noise: its A/A ratio is the error bar.
//
//   node wasm/bench/package_ab.mjs CONTRACTNLI_DERIVED_DIR ROUNDS PKG_DIR_A PKG_DIR_B [PKG_DIR_A]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [corpusDir, roundsS, ...pkgs] = process.argv.slice(2);
if (!corpusDir || pkgs.length < 1) {
  console.error('usage: node wasm/bench/package_ab.mjs CONTRACTNLI_DERIVED_DIR ROUNDS PKG_DIR_A PKG_DIR_B [PKG_DIR_A]');
  process.exit(2);
}
const rounds = Number(roundsS);
const lines = (f) => fs.readFileSync(path.join(corpusDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const sides = [];
let snapshot = null;
for (const pkg of pkgs) {
  // The same directory twice is one ES module and one wasm instance, with
  // an engine of each side's own.
  const { createEngine } = await import(pathToFileURL(path.join(pkg, 'index.js')));
  if (!snapshot) {
    const b = await createEngine({ index: { embedder: 'none' } });
    for (const d of lines('corpus.jsonl')) b.add({ id: d._id, title: d.title || '', text: d.text, metadata: { doc_id: d.doc_id } });
    snapshot = b.snapshot(); b.dispose();
  }
  const engine = await createEngine({ snapshot });
  const cold = await createEngine({ snapshot });  // its generation moves before every call
  const coreMjs = path.join(pkg, '../bench/foldback_bench.mjs');
  const core = await (await import(pathToFileURL(coreMjs))).default({ wasmBinary: fs.readFileSync(coreMjs.replace(/\.mjs$/, '.wasm')) });
  const err = core.load(snapshot); if (err) throw new Error(err);
  sides.push({ pkg, engine, cold, core });
}
const qrels = new Set(fs.readFileSync(path.join(corpusDir, 'qrels/dev.tsv'), 'utf8').split('\n').slice(1).map((l) => l.split('\t')[0]).filter(Boolean));
const queries = lines('queries.jsonl').filter((q) => qrels.has(q._id));
const qT = queries.map((q) => q.text), qS = queries.map((q) => q.doc_id);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const opts = (q, one) => (one === 'cold' ? { mode: 'bm25', topK: 10, filter: { doc_id: q.doc_id }, oneDocument: true, useFeedback: false } : one === 'fb' ? { mode: 'bm25', topK: 10, filter: { doc_id: q.doc_id } } : { mode: 'bm25', topK: 10, filter: { doc_id: q.doc_id }, oneDocument: one, useFeedback: false });
// The sides must agree hit for hit.
const ref = sides[0].engine;
for (const s of sides.slice(1)) for (const q of queries) {
  const a = JSON.stringify(ref.search(q.text, opts(q, true))), b = JSON.stringify(s.engine.search(q.text, opts(q, true)));
  if (a !== b) throw new Error('results differ for ' + s.pkg);
}
// Warm-up: V8 tiers the wasm and the JS up as they run.
for (const s of sides) for (let w = 0; w < 2; ++w) { for (const q of queries) { s.engine.search(q.text, opts(q, true)); s.engine.search(q.text, opts(q, false)); s.cold.search(q.text, opts(q, true)); } s.core.scopedMicros(qT, qS, 'doc_id', 10, true); }
const res = {};
const rec = (k, v) => (res[k] = res[k] || []).push(v);
for (let r = 0; r < rounds; ++r) {
  for (let si = 0; si < sides.length; ++si) {
    const s = sides[si];
    for (const one of [true, false, 'fb', 'cold']) {
      const calls = []; let sink = 0;
      for (const q of queries) { const t0 = process.hrtime.bigint(); const e = one === 'cold' ? s.cold : s.engine; if (one === 'cold') e._generation++; sink += e.search(q.text, opts(q, one)).length; calls.push(Number(process.hrtime.bigint() - t0) / 1e3); }
      rec(`${si} engine.search ${one === 'cold' ? 'oneDoc, not seen before' : one === 'fb' ? 'passages, feedback path' : one ? 'oneDoc' : 'passages'}`, median(calls));
      if (one === true || one === false) rec(`${si} core ${one ? 'oneDoc' : 'passages'}`, median(s.core.scopedMicros(qT, qS, 'doc_id', 10, one)));
    }
  }
}
for (const k of Object.keys(res).sort((a, b) => a.slice(2).localeCompare(b.slice(2)) || a.localeCompare(b))) {
  const base = res['0' + k.slice(1)];
  console.log(k.padEnd(34), median(res[k]).toFixed(2), k[0] === '0' ? '' : (median(res[k].map((v, i) => v / base[i]))).toFixed(3) + ' of side 0');
}
