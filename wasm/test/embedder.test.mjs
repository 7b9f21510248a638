// The ONNX Runtime Web embedder: foldback's WordPiece (wasm) -> a BERT-shaped
// ONNX model the test builds itself -> mean pooling -> the index's external
// vectors -> dense search. And the clear errors for models foldback cannot use.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { tinyBertModel } from './tiny_onnx.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, createTokenizer, FoldbackError } = await import(path.join(pkgDir, 'index.js'));
const { createOnnxEmbedder } = await import(path.join(pkgDir, 'embedder.js'));

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

const docs = [
  { id: 'nda', title: 'Mutual NDA', text: 'The receiving party shall keep all confidential information secret and shall not disclose it to any third party.' },
  { id: 'supply', title: 'Supply', text: 'The supplier shall indemnify the customer against all losses, damages and claims arising from defective goods.' },
  { id: 'law', title: 'Governing law', text: 'This agreement is governed by the laws of the state of new york and the courts of manhattan have jurisdiction.' },
  { id: 'term', title: 'Termination', text: 'Either party may terminate this agreement for convenience upon ninety days written notice.' },
];

// A vocabulary covering the test texts (plus a few continuation pieces).
const words = new Set();
for (const d of docs) for (const w of `${d.title} ${d.text}`.toLowerCase().match(/[a-z]+/g)) words.add(w);
for (const w of ['disclosure', 'information', 'secret', 'indemnification', 'court']) words.add(w);
const vocabList = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', ...[...words].sort(), '##s', '##ure', '##ing', '##ed'];
const vocabulary = `${vocabList.join('\n')}\n`;

let model;
before(() => {
  model = tinyBertModel({ vocabSize: vocabList.length, hidden: 32 });
});

test('embeddings are the masked mean of token vectors, unit length', async () => {
  const embedder = await createOnnxEmbedder({ model: model.bytes, vocabulary, ort });
  assert.equal(embedder.dimension, 32);
  const texts = ['confidential information', 'the supplier shall indemnify the customer against losses'];
  const vectors = await embedder.embed(texts);
  const tok = await createTokenizer({ vocabulary });
  for (let i = 0; i < texts.length; ++i) {
    const ids = Array.from(tok.encode(texts[i]).ids);
    const expected = new Float64Array(32);
    for (const id of ids) {
      for (let d = 0; d < 32; ++d) expected[d] += (model.wordEmb[id * 32 + d] + model.typeEmb[d]) / ids.length;
    }
    const norm = Math.hypot(...expected);
    assert.equal(vectors[i].length, 32);
    for (let d = 0; d < 32; ++d) assert.ok(Math.abs(vectors[i][d] - expected[d] / norm) < 1e-5, `dim ${d}`);
  }
  // The padded shorter text was pooled over its own tokens only: embedding it
  // alone gives the same vector.
  const [alone] = await embedder.embed([texts[0]]);
  for (let d = 0; d < 32; ++d) assert.ok(Math.abs(alone[d] - vectors[0][d]) < 1e-6);
  tok.dispose();
  embedder.dispose();
});

// A model whose token vectors are one-hot per content word (zero for
// function words and special tokens): mean pooling then gives a bag of
// content words, so the nearest document is known by construction.
function bagOfWordsModel() {
  const stop = new Set(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', 'the', 'and', 'of', 'to', 'a', 'all',
    'any', 'it', 'this', 'by', 'for', 'have', 'is', 'may', 'not', 'shall', 'upon', 'party', 'agreement', 'from',
    'against', 'either']);
  const n = vocabList.length;
  const wordEmb = new Float32Array(n * n);
  vocabList.forEach((t, i) => { if (!stop.has(t)) wordEmb[i * n + i] = 1; });
  return tinyBertModel({ vocabSize: n, hidden: n, wordEmb, typeEmb: new Float32Array(2 * n) });
}

test('tokenize -> run -> pool -> index -> dense search finds the expected document', async () => {
  const bow = bagOfWordsModel();
  const embedder = await createOnnxEmbedder({ model: bow.bytes, vocabulary, ort });
  const dim = vocabList.length;
  const engine = await createEngine({ embedder });
  assert.deepEqual(engine.indexOptions(), { embedder: 'external', dimension: dim });
  const progress = [];
  await engine.addMany(docs, { batchSize: 2, onProgress: (p) => progress.push(p) });
  assert.deepEqual(progress.map((p) => p.done), [2, 4]);
  assert.equal(engine.stats().pendingVectors, engine.stats().chunks);
  const embedded = [];
  const n = await engine.embedPending({ batchSize: 3, onProgress: (p) => embedded.push(p) });
  assert.equal(n, engine.stats().chunks);
  assert.equal(engine.stats().vectors, n);
  assert.equal(engine.stats().pendingVectors, 0);
  assert.equal(embedded.at(-1).done, n);

  const cases = [
    ['confidential information secret disclosure', 'nda'],
    ['supplier indemnify losses damages', 'supply'],
    ['governed by the laws of new york courts', 'law'],
    ['terminate for convenience notice', 'term'],
  ];
  for (const [query, id] of cases) {
    const hits = await engine.search(query, { mode: 'dense', topK: 2 });
    assert.equal(hits[0].docId, id, `dense: ${query}`);
    assert.ok(hits[0].dense > 0);
    const hybrid = await engine.search(query, { mode: 'hybrid', topK: 2 });
    assert.equal(hybrid[0].docId, id, `hybrid: ${query}`);
  }
  // BM25 stays synchronous.
  assert.equal(engine.search('indemnify', { mode: 'bm25' })[0].docId, 'supply');

  // The vectors travel in the snapshot; the same embedder answers queries.
  const again = await createEngine({ snapshot: engine.snapshot(), embedder });
  assert.equal(again.stats().vectors, n);
  const a = await again.search('confidential information', { mode: 'dense' });
  const b = await engine.search('confidential information', { mode: 'dense' });
  assert.deepEqual(a.map((h) => [h.chunkId, h.dense.toFixed(6)]), b.map((h) => [h.chunkId, h.dense.toFixed(6)]));
  // An embedder of another size cannot serve that snapshot.
  const other = tinyBertModel({ vocabSize: vocabList.length, hidden: 16 });
  const small = await createOnnxEmbedder({ model: other.bytes, vocabulary, ort });
  await assert.rejects(createEngine({ snapshot: engine.snapshot(), embedder: small }),
    (e) => e instanceof FoldbackError && /dimension 16/.test(e.message) && e.message.includes(`${dim}-dimensional`));
  small.dispose();
  again.dispose();
  engine.dispose();
  embedder.dispose();
});

test('a model without token_type_ids, and an already pooled output, work too', async () => {
  const noTypes = tinyBertModel({ vocabSize: vocabList.length, withTokenTypes: false });
  const e1 = await createOnnxEmbedder({ model: noTypes.bytes, vocabulary, ort });
  assert.equal(e1.dimension, 32);
  const pooled = tinyBertModel({ vocabSize: vocabList.length, outputKind: 'pooled', outputName: 'sentence_embedding' });
  const e2 = await createOnnxEmbedder({ model: pooled.bytes, vocabulary, ort });
  assert.equal(e2.dimension, 32);
  // Mean and sum pooling differ only in scale: unit vectors agree.
  const hidden = await createOnnxEmbedder({ model: model.bytes, vocabulary, ort });
  const [x] = await e2.embed(['governed by the laws']);
  const [y] = await hidden.embed(['governed by the laws']);
  for (let d = 0; d < 32; ++d) assert.ok(Math.abs(x[d] - y[d]) < 1e-5);
  e1.dispose();
  e2.dispose();
  hidden.dispose();
});

test('files that are not ONNX, or models with unexpected inputs or outputs, get clear errors', async () => {
  const invalid = (re) => (e) => {
    assert.ok(e instanceof FoldbackError, String(e));
    assert.equal(e.code, 'Invalid argument');
    assert.match(e.message, re);
    return true;
  };
  await assert.rejects(createOnnxEmbedder({ model: new TextEncoder().encode('{"this is": "not a model"}'), vocabulary, ort }),
    invalid(/not a loadable ONNX model/));
  await assert.rejects(createOnnxEmbedder({ model: new Uint8Array(0), vocabulary, ort }), invalid(/empty/));
  await assert.rejects(createOnnxEmbedder({ model: 'model.onnx', vocabulary, ort }), invalid(/Uint8Array/));
  const vision = tinyBertModel({ vocabSize: vocabList.length, extraInput: 'pixel_values' });
  await assert.rejects(createOnnxEmbedder({ model: vision.bytes, vocabulary, ort }),
    invalid(/inputs are \[input_ids, attention_mask, token_type_ids, pixel_values\]/));
  const intOut = tinyBertModel({ vocabSize: vocabList.length, outputKind: 'int' });
  await assert.rejects(createOnnxEmbedder({ model: intOut.bytes, vocabulary, ort }), invalid(/int32 \[1, \d+\].*expected float32/));
  const oddName = tinyBertModel({ vocabSize: vocabList.length, outputName: 'logits' });
  // A single output is used whatever its name; a named output must exist.
  const ok = await createOnnxEmbedder({ model: oddName.bytes, vocabulary, ort });
  ok.dispose();
  await assert.rejects(createOnnxEmbedder({ model: oddName.bytes, vocabulary, ort, outputName: 'pooled' }),
    invalid(/no output 'pooled'/));
  // A vocabulary that is not one.
  await assert.rejects(createOnnxEmbedder({ model: model.bytes, vocabulary: 'just\nwords\n', ort }), invalid(/\[UNK\]/));
  // An engine's embedder must look like one.
  await assert.rejects(createEngine({ embedder: { dimension: 0 } }), invalid(/embedder/));
  // embedPending without an embedder.
  const plain = await createEngine({ index: { embedder: 'none' } });
  await assert.rejects(plain.embedPending(), (e) => e instanceof FoldbackError && e.code === 'Failed precondition');
  plain.dispose();
});
