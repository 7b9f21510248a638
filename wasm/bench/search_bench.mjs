// What one scoped search costs through the npm package in Node, and where
// the time goes (issue 13 item 7). ContractNLI dev spans (CC BY 4.0,
// Koreeda & Manning 2021) reshaped for span retrieval — the same corpus,
// queries and scope as tests/bench/peer_bench.cc's `cnli` task: every query
// scoped to its NDA (`filter: {doc_id}`), bm25, one result per document,
// the top K (default 10) hits with their text. Timed per call, in rounds
// over every query:
//
//   engine.search   the public API: options checked, embind call, the core's
//                   Index::Search, hits encoded into three buffers, decoded
//                   into JS objects (useFeedback: false, as no feedback is
//                   recorded: the plain index search);
//   embind search   JsIndex::search itself: the same minus the JS hit objects
//                   (the encoded buffers are read, not decoded);
//   embind no-filter the embind call with no options object at all and a
//                   query matching nothing — the fixed cost of a call;
//   engine.search, passages (collapse)  the add-ins' search: no oneDocument,
//                   so near-duplicate passages are collapsed.
//
// Compare with the native figure of the same work, run right after (p50 is
// what survives a shared machine's stalls):
//   build/bin/peer_bench --contractnli DIR --only cnli --top-k 10
// whose "foldback" row is Index::Search with the hits' text copied.
//
//   node wasm/bench/search_bench.mjs --corpus DIR [--package build/wasm/package] [--top-k 10] [--rounds 5]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const corpusDir = opt('--corpus', null);
if (!corpusDir) {
  console.error('usage: node wasm/bench/search_bench.mjs --corpus CONTRACTNLI_DERIVED_DIR [--top-k 10] [--rounds 5]');
  process.exit(2);
}
const pkg = path.resolve(root, opt('--package', 'build/wasm/package'));
const topK = Number(opt('--top-k', '10'));
const rounds = Number(opt('--rounds', '5'));

const lines = (file) => fs.readFileSync(path.join(corpusDir, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const { createEngine } = await import(path.join(pkg, 'index.js'));
const engine = await createEngine({ index: { embedder: 'none' } });
for (const d of lines('corpus.jsonl')) {
  engine.add({ id: d._id, title: d.title || '', text: d.text, metadata: { doc_id: d.doc_id } });
}
// Queries with a relevant span (as peer_bench's cnli task keeps them).
const qrels = new Set(fs.readFileSync(path.join(corpusDir, 'qrels/dev.tsv'), 'utf8').split('\n').slice(1)
  .map((l) => l.split('\t')[0]).filter(Boolean));
const queries = lines('queries.jsonl').filter((q) => qrels.has(q._id));

const options = (q) => ({ mode: 'bm25', topK, filter: { doc_id: q.doc_id }, oneDocument: true, useFeedback: false });
const rawOptions = (q) => ({ mode: 'bm25', topK, filter: { doc_id: q.doc_id }, oneDocument: true });
// What the Office / Chromium add-ins ask: passages, not documents, so the
// near-duplicate collapse runs (SearchOptions::collapse_jaccard, 0.8).
const addinOptions = (q) => ({ mode: 'bm25', topK, filter: { doc_id: q.doc_id }, useFeedback: false });
const index = engine._index;
const cases = {
  'engine.search': (q) => engine.search(q.text, options(q)).length,
  'engine.search, passages (collapse)': (q) => engine.search(q.text, addinOptions(q)).length,
  'embind search': (q) => index.search(q.text, rawOptions(q)).numbers.length,
  'embind no-filter': () => index.search('zzzzqqqq', null).numbers.length,
};
// Warm-up, and a check that both paths agree.
for (const q of queries.slice(0, 50)) {
  if (engine.search(q.text, options(q)).length * 3 !== index.search(q.text, rawOptions(q)).numbers.length) {
    throw new Error('engine.search and the embind search disagree');
  }
}
// Per call: the median (p50) of every call's time, robust to the stalls of
// a shared machine, and the throughput of each round (its median).
const perCall = {};
const perRound = {};
for (const name of Object.keys(cases)) { perCall[name] = []; perRound[name] = []; }
for (let r = 0; r < rounds; ++r) {
  for (const [name, run] of Object.entries(cases)) {
    let sink = 0;
    const calls = perCall[name];
    const r0 = process.hrtime.bigint();
    for (const q of queries) {
      const t0 = process.hrtime.bigint();
      sink += run(q);
      calls.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    perRound[name].push(Number(process.hrtime.bigint() - r0) / 1e3 / queries.length);
    if (sink < 0) console.log(sink);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const p95 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.95)];
console.log(`${queries.length} queries scoped to their NDA, top ${topK}, bm25, ${rounds} rounds`);
console.log('| call | p50 (µs) | p95 (µs) | q/s (median round) |');
console.log('|---|---|---|---|');
for (const name of Object.keys(cases)) {
  console.log(`| ${name} | ${median(perCall[name]).toFixed(2)} | ${p95(perCall[name]).toFixed(2)} | ${Math.round(1e6 / median(perRound[name]))} |`);
}
