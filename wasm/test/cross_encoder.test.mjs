// search(q, {rerank: 'cross-encoder', crossEncoder}): an ONNX cross-encoder
// the test builds itself (its logit is the summed weights of the passage's
// tokens, segment 1 of the pair), run by ONNX Runtime Web on foldback's
// WordPiece pair encoding; the core admits the candidates (walls, the
// index's text) and orders them by the model's scores. And the clear errors
// for models and scores foldback cannot use.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { tinyBertModel, tinyCrossEncoderModel } from './tiny_onnx.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, createTokenizer, FoldbackError } = await import(path.join(pkgDir, 'index.js'));
const { createOnnxCrossEncoder } = await import(path.join(pkgDir, 'embedder.js'));

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

// BM25 ranks t1 (notice, notice, termination) first; the model weighs
// "arbitration" and "seat", which only t3 and t2 hold.
const docs = [
  { id: 't1', text: 'Termination notice: notice of termination is given in writing.', matter: 'acme' },
  { id: 't2', text: 'Termination notice goes to the seat of the company.', matter: 'acme' },
  { id: 't3', text: 'After termination notice, disputes go to arbitration in london.', matter: 'acme' },
  { id: 'b1', text: 'Termination notice notice notice about the kumquat arbitration arbitration.', matter: 'beta' },
];
const words = new Set();
for (const d of docs) for (const w of d.text.toLowerCase().match(/[a-z]+/g)) words.add(w);
const vocabList = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', ':', ...[...words].sort()];
const vocabulary = `${vocabList.join('\n')}\n`;
const weightOf = { arbitration: 3, seat: 1.5, termination: 0.25, kumquat: 9 };
const wordWeight = Float32Array.from(vocabList, (w) => weightOf[w] || 0);

let model;
before(() => {
  model = tinyCrossEncoderModel({ vocabSize: vocabList.length, wordWeight });
});

async function engine() {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  return e;
}

test('scores are the model logits for [CLS] query [SEP] passage [SEP]', async () => {
  const ce = await createOnnxCrossEncoder({ model: model.bytes, vocabulary, ort, batchSize: 2 });
  const passages = docs.map((d) => d.text);
  const scores = await ce.score('termination arbitration seat', passages);
  const tok = await createTokenizer({ vocabulary });
  const enc = tok.encodePairBatch('termination arbitration seat', passages);
  for (let b = 0; b < passages.length; ++b) {
    let expected = 0;
    for (let t = 0; t < enc.length; ++t) {
      const i = b * enc.length + t;
      expected += enc.typeIds[i] * enc.attentionMask[i] * wordWeight[enc.ids[i]];
    }
    assert.ok(Math.abs(scores[b] - expected) < 1e-5, `passage ${b}: ${scores[b]} vs ${expected}`);
  }
  // Only the passage's tokens count (segment 1): the query's do not.
  assert.equal(scores[0], 2 * 0.25);
  const two = tinyCrossEncoderModel({ vocabSize: vocabList.length, wordWeight, columns: 2 });
  const ce2 = await createOnnxCrossEncoder({ model: two.bytes, vocabulary, ort });
  const scores2 = await ce2.score('termination arbitration seat', passages);
  for (let b = 0; b < passages.length; ++b) assert.ok(Math.abs(scores2[b] - scores[b]) < 1e-5);
  tok.dispose();
  ce.dispose();
  ce2.dispose();
});

test('search reranks by the model behind the walls; below the depth the order is kept', async () => {
  const e = await engine();
  const ce = await createOnnxCrossEncoder({ model: model.bytes, vocabulary, ort });
  const seen = [];
  const spy = { score: (q, texts) => { seen.push(...texts); return ce.score(q, texts); } };
  const first = e.search('termination notice', { mode: 'bm25', allowedMatters: ['acme'] });
  assert.equal(first[0].docId, 't1');
  const hits = await e.search('termination notice', { mode: 'bm25', allowedMatters: ['acme'], rerank: 'cross-encoder', crossEncoder: spy });
  assert.deepEqual(hits.map((h) => h.docId), ['t3', 't2', 't1']);
  assert.deepEqual(hits.rerank, { applied: true, candidates: 3, walled: 0 });
  assert.ok(hits[0].score > hits[1].score);
  assert.ok(!seen.some((t) => /kumquat/.test(t)), 'a walled passage reached the model');
  // Without walls the beta passage is scored (the check above can fail) and wins.
  const open = await e.search('termination notice', { mode: 'bm25', rerank: 'cross-encoder', crossEncoder: spy });
  assert.equal(open[0].docId, 'b1');
  assert.ok(seen.some((t) => /kumquat/.test(t)));
  // rerankDepth 2: the first two are reordered, the rest follow in BM25 order.
  const shallow = await e.search('termination notice', { mode: 'bm25', allowedMatters: ['acme'], rerank: 'cross-encoder', crossEncoder: ce, rerankDepth: 2, topK: 3 });
  const bm25 = first.map((h) => h.docId);
  assert.deepEqual(shallow.map((h) => h.docId).slice(2), bm25.slice(2));
  assert.deepEqual(new Set(shallow.map((h) => h.docId).slice(0, 2)), new Set(bm25.slice(0, 2)));
  ce.dispose();
  e.dispose();
});

test('models and scores foldback cannot use are clear errors', async () => {
  const e = await engine();
  await assert.rejects(createOnnxCrossEncoder({ model: tinyBertModel({ vocabSize: vocabList.length }).bytes, vocabulary, ort }),
    (err) => err instanceof FoldbackError && err.code === 'Invalid argument' && /expected float32 \[2, 1\]/.test(err.message));
  const hidden = tinyCrossEncoderModel({ vocabSize: vocabList.length, wordWeight, outputKind: 'hidden' });
  await assert.rejects(createOnnxCrossEncoder({ model: hidden.bytes, vocabulary, ort }), (err) => err.code === 'Invalid argument');
  await assert.rejects(createOnnxCrossEncoder({ model: new Uint8Array([1, 2, 3]), vocabulary, ort }),
    (err) => err.code === 'Invalid argument' && /not a loadable ONNX model/.test(err.message));
  await assert.rejects(createOnnxCrossEncoder({ model: model.bytes, vocabulary, ort, batchSize: 0 }), (err) => err.code === 'Invalid argument');
  assert.throws(() => e.search('termination', { rerank: 'cross-encoder' }), (err) => err.code === 'Invalid argument');
  await assert.rejects(e.search('termination notice', { mode: 'bm25', rerank: 'cross-encoder', crossEncoder: { score: async () => [1] } }),
    (err) => err instanceof FoldbackError && /1 scores for 4 candidates/.test(err.message));
  await assert.rejects(e.search('termination notice', { mode: 'bm25', rerank: 'cross-encoder', crossEncoder: { score: async (q, t) => t.map(() => Number.NaN) } }),
    (err) => err instanceof FoldbackError && /not a finite number/.test(err.message));
  // The engine is still usable after a failed rerank.
  assert.equal(e.search('termination notice', { mode: 'bm25' }).length, 4);
  e.dispose();
});
