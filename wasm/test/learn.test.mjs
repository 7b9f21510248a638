// engine.train (the contrastive static embedder, foldback/train.h) and the
// learned reranker (foldback/rerank.h) on the real wasm core: stepped with
// progress, deterministic for a seed, restorable; the reranker trained from
// the feedback log's labels, its gate, its bytes, and refused inputs.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, FoldbackError } = await import(path.join(pkgDir, 'index.js'));

const corpusDir = path.join(root, 'examples/corpus/cuad');
let docs;

before(async () => {
  docs = [];
  const files = (await readdir(corpusDir)).filter((f) => f.endsWith('.txt')).sort();
  for (const f of files) {
    docs.push({ id: f.replace(/\.txt$/, ''), title: f.replace(/\.txt$/, ''), text: await readFile(path.join(corpusDir, f), 'utf8') });
  }
});

const Q = 'termination upon written notice';
const dense = (e) => e.search(Q, { mode: 'dense', topK: 5 }).map((h) => `${h.chunkId}:${h.score.toFixed(9)}`);

async function trained(seed) {
  const e = await createEngine({});
  e.add(docs);
  e.buildDense();
  const progress = [];
  const report = await e.train({ epochs: 1, seed, maxPairs: 2000 }, { onProgress: (p) => progress.push(p) });
  return { e, report, progress };
}

test('train: stepped with progress, lowers the loss, deterministic for a seed, restorable', async () => {
  const plain = await createEngine({});
  plain.add(docs);
  plain.buildDense();
  const v1 = plain.embedderInfo();
  assert.equal(v1.present, true);
  const before = dense(plain);
  plain.dispose();

  const a = await trained(7);
  assert.ok(a.report.pairs.total >= 2, 'pairs were mined');
  assert.ok(a.report.pairs.bySource.cloze > 0 && a.report.pairs.bySource.heading >= 0);
  assert.equal(a.progress.length, a.report.steps);
  assert.deepEqual(a.progress.map((p) => p.step), a.progress.map((_, i) => i + 1));
  assert.equal(a.progress.at(-1).step, a.progress.at(-1).steps);
  assert.ok(a.report.lossAfter < a.report.lossBefore, `loss ${a.report.lossBefore} -> ${a.report.lossAfter}`);
  assert.equal(a.report.embedder.version, v1.version + 1);
  assert.equal(a.report.embedder.hasPrevious, true);
  const after = dense(a.e);
  assert.notDeepEqual(after, before, 'the trained model changed dense scores');

  const b = await trained(7);
  assert.equal(b.report.lossAfter, a.report.lossAfter);
  assert.deepEqual(dense(b.e), after, 'same seed, same model');
  b.e.dispose();

  a.e.restorePreviousEmbedder();
  assert.equal(a.e.embedderInfo().version, v1.version);
  assert.deepEqual(dense(a.e), before, 'the PPMI model and its scores are back');
  a.e.dispose();
});

test('train: refused without a dense side and with bad options', async () => {
  const e = await createEngine({});
  e.add(docs.slice(0, 2));
  await assert.rejects(e.train({}), (err) => err instanceof FoldbackError && /embedder|dense/i.test(err.message));
  e.buildDense();
  await assert.rejects(e.train({ sources: 'heading,nonsense' }), (err) => err instanceof FoldbackError && /nonsense/.test(err.message));
  await assert.rejects(e.train({ interpolation: 1.5 }), (err) => err instanceof FoldbackError && /interpolation/.test(err.message));
  await assert.rejects(e.train({ sourceWeights: 'cloze=-1' }), (err) => err instanceof FoldbackError && /weight/.test(err.message));
  await assert.rejects(e.train({ sourceWeights: 'feelings=1' }), (err) => err instanceof FoldbackError && /feelings/.test(err.message));
  await assert.rejects(e.train({ epochs: 0 }), (err) => err instanceof FoldbackError && err.code === 'Invalid argument');
  assert.throws(() => e.restorePreviousEmbedder(), (err) => err instanceof FoldbackError);
  e.dispose();
});

test('train: the feedback source — the labels recorded, only from shareable matters', async () => {
  const e = await createEngine({});
  e.add(docs.map((d, i) => ({ ...d, matter: i % 2 ? 'm-open' : 'm-closed' })));
  e.buildDense();
  await assert.rejects(e.train({ sources: 'feedback' }), (err) => err instanceof FoldbackError && /no pairs: 0 records/.test(err.message));
  for (const q of ['termination upon written notice', 'governing law of the state', 'payment of fees and invoices']) {
    const r = await e.ask(q, { hops: 1, depth: 5, topK: 5, rewrite: 'none', mode: 'bm25', allowedMatters: ['m-open'] });
    assert.ok(r.passages.length >= 2);
    await e.feedback({ traceId: r.traceId, labels: { [r.passages[0].chunkId]: 'relevant', [r.passages[1].chunkId]: 'not_relevant' }, consentToTrain: true });
  }
  // Matter m-open is not marked shareable: the embedder serves every search.
  await assert.rejects(e.train({ sources: 'feedback' }), (err) => err instanceof FoldbackError && /3 touching a matter not marked shareable/.test(err.message));
  const version = e.embedderInfo().version;
  const progress = [];
  const report = await e.train({ sources: 'feedback', shareableMatters: ['m-open'] }, { onProgress: (p) => progress.push(p) });
  assert.equal(report.pairs.bySource.feedback, 3);
  assert.equal(report.pairs.total, 3);
  assert.equal(progress.at(-1).epochs, 10, 'labels alone: kFeedbackOnlyEpochs');
  assert.ok(report.lossAfter < report.lossBefore, `loss ${report.lossBefore} -> ${report.lossAfter}`);
  assert.equal(report.embedder.version, version + 1);
  assert.deepEqual(report.embedder.feedbackMatters, ['m-open']);
  // Within the structure sources: quietly none without labels to share.
  const again = await e.train({ sources: 'all', epochs: 1, maxPairs: 500, warmStart: true });
  assert.equal(again.pairs.bySource.feedback, 0);
  assert.deepEqual(again.embedder.feedbackMatters, ['m-open'], 'continued from a model that learned from it');
  // Forgetting the matter drops both: the corpus model is retrained.
  assert.equal((await e.forgetMatter('m-closed')).embedder, '');
  const forgot = await e.forgetMatter('m-open');
  assert.equal(forgot.forgotten, 3);
  assert.match(forgot.embedder, /corpus model retrained/);
  assert.deepEqual(e.embedderInfo().feedbackMatters, []);
  assert.equal(e.embedderInfo().training, 'ppmi-svd');
  assert.throws(() => e.restorePreviousEmbedder(), (err) => err instanceof FoldbackError);
  e.dispose();
});

test('reranker: trained from labels, gate, search, bytes', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  assert.throws(() => e.search(Q, { mode: 'bm25', rerank: 'learned' }), (err) => err instanceof FoldbackError && /trainReranker/.test(err.message));
  assert.throws(() => e.search(Q, { mode: 'bm25', rerank: 'llm' }), (err) => err instanceof FoldbackError);
  // No labels yet: a reranker with no model; results are the first stage's.
  let report = e.trainReranker();
  assert.equal(report.used, 0);
  assert.deepEqual(report.models, []);
  const first = e.search(Q, { mode: 'bm25', topK: 10, useFeedback: false }).map((h) => h.chunkId);
  assert.deepEqual(e.search(Q, { mode: 'bm25', topK: 10, rerank: 'learned' }).map((h) => h.chunkId), first);

  // A lawyer labels each question's top 10 and prefers short clauses (under
  // 500 characters) — a pattern no question determines, so it transfers.
  const questions = ['termination upon written notice', 'governing law of the state',
    'confidential information shall not be disclosed', 'payment of fees and invoices',
    'indemnify and hold harmless', 'assignment of this agreement'];
  for (const q of questions) {
    const r = await e.ask(q, { hops: 1, depth: 10, topK: 10, rewrite: 'none', mode: 'bm25' });
    const labels = {};
    for (const p of r.passages) labels[p.chunkId] = p.text.length < 500 ? 'relevant' : 'not_relevant';
    await e.feedback({ traceId: r.traceId, labels, consentToTrain: true });
  }
  // Each record kept the scope its question was searched in (none here).
  assert.deepEqual(e.feedbackRecords().map((r) => r.filters), questions.map(() => []));
  // The gate needs 40 labels from 3 questions: a tiny gate opens, a strict one stays closed.
  // Closed, results are the first stage's: the feedback folded back (search()'s default,
  // which the labels have moved away from the plain search), or the plain search for a
  // reranker trained with useFeedback: false.
  report = e.trainReranker({ minLabels: 100000, mode: 'bm25', rerankDepth: 30 });
  assert.equal(report.used, questions.length);
  assert.equal(report.models.length, 1);
  assert.equal(report.models[0].gateOpen, false);
  assert.match(report.models[0].note, /labelled passages/);
  const folded = e.search(Q, { mode: 'bm25', topK: 10 }).map((h) => h.chunkId);
  assert.notDeepEqual(folded, first, 'the feedback moved the first stage');
  assert.deepEqual(e.search(Q, { mode: 'bm25', topK: 10, rerank: 'learned' }).map((h) => h.chunkId), folded);
  assert.throws(() => e.search(Q, { mode: 'bm25', rerank: 'learned', useFeedback: false }),
    (err) => err instanceof FoldbackError && err.code === 'Failed precondition' && /useFeedback: false/.test(err.message));
  e.trainReranker({ minLabels: 100000, mode: 'bm25', rerankDepth: 30, useFeedback: false });
  assert.deepEqual(e.search(Q, { mode: 'bm25', topK: 10, rerank: 'learned', useFeedback: false }).map((h) => h.chunkId), first);
  assert.throws(() => e.search(Q, { mode: 'bm25', rerank: 'learned', useFeedback: true }), (err) => err instanceof FoldbackError && /trainReranker\(\)/.test(err.message));

  report = e.trainReranker({ minLabels: 10, minRelevant: 2, minQuestions: 3, mode: 'bm25', rerankDepth: 30 });
  const model = report.models[0];
  assert.equal(model.questions, questions.length);
  assert.ok(model.relevant > 0 && model.notRelevant > 0);
  const reranked = e.search(Q, { mode: 'bm25', topK: 10, rerank: 'learned', rerankDepth: 30 });
  assert.equal(reranked.length, 10);
  assert.equal(model.gateOpen, true, model.note);
  assert.ok(model.validationGain > 0);
  assert.notDeepEqual(reranked.map((h) => h.chunkId), folded, 'an open model reorders');
  const short = (hs) => hs.slice(0, 5).filter((h) => h.text.length < 500).length;
  assert.ok(short(reranked) > short(e.search(Q, { mode: 'bm25', topK: 10 })), 'short clauses moved up');

  // Bytes and back: the same order (loaded for the same first stage).
  const bytes = e.rerankerBytes();
  assert.equal(typeof bytes, 'string');
  e.loadReranker(bytes);
  assert.deepEqual(e.search(Q, { mode: 'bm25', topK: 10, rerank: 'learned', rerankDepth: 30 }).map((h) => h.chunkId),
    reranked.map((h) => h.chunkId));
  e.loadReranker(bytes, { useFeedback: false });
  assert.throws(() => e.search(Q, { mode: 'bm25', rerank: 'learned', useFeedback: true }), (err) => err instanceof FoldbackError);
  e.loadReranker(bytes);
  assert.deepEqual(e.rerankerModels().map((m) => m.gateOpen), [model.gateOpen]);
  assert.throws(() => e.loadReranker('{"not": 1}'), (err) => err instanceof FoldbackError && err.code === 'Corruption');
  // Behind a training wall that excludes nothing here (no matters): still trained.
  assert.equal(e.trainReranker({ allowedMatters: [] }).walled, 0);
  assert.throws(() => e.trainReranker({ mode: 'fuzzy' }), (err) => err instanceof FoldbackError && /mode/.test(err.message));
  e.dispose();
});

test('reranker: a question scoped to one contract keeps its scope, trace to record to log', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const doc = docs[1].id;
  const r = await e.ask(Q, { hops: 1, depth: 5, topK: 5, rewrite: 'none', mode: 'bm25', filter: { id: doc } });
  assert.ok(r.passages.length > 0 && r.passages.every((p) => p.docId === doc));
  assert.deepEqual(JSON.parse(r.traceJson).filters, [{ field: 'id', op: '=', value: doc }]);
  assert.deepEqual(r.trace.filters, [{ field: 'id', op: '=', value: doc }]);
  await e.feedback({ traceId: r.traceId, labels: { [r.passages[0].chunkId]: 'relevant' }, consentToTrain: true });
  const [record] = e.feedbackRecords();
  assert.deepEqual(record.filters, [{ field: 'id', op: '=', value: doc }]);
  // The log's bytes decoded again, as a reload from storage does
  // (_reloadFeedback): the scope is kept.
  const again = await createEngine({ index: { embedder: 'none' } });
  again.add(docs);
  assert.equal(again._feedback.load(e.feedbackLog()).records, 1);
  assert.deepEqual(again.feedbackRecords()[0].filters, record.filters);
  assert.equal(again.trainReranker({ mode: 'bm25' }).used, 1);
  e.dispose();
  again.dispose();
});
