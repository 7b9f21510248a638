// search(q, {rerank: 'llm', host}): the core's LLM listwise reranker
// (foldback/llm_rerank.h) driven by the JS host against a real HTTP server
// on loopback that ranks the numbered passages by word overlap with the
// question, so the order is known. Walls (a walled passage never reaches a
// request body), redaction, a lying reply retried, and an endpoint that is
// down (the search's order kept, said in hits.rerank).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOpenAiServer, deadPort } from './openai_server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, FoldbackError } = await import(path.join(pkgDir, 'index.js'));
const { createLlmHost } = await import(path.join(pkgDir, 'host.js'));

// The server counts every question word of 3+ letters, stopwords too, which
// the search ignores: overlap b 4, c 3, a 1; d (matter beta) 5.
const QUESTION = 'termination about these with which';
const DOCS = [
  { id: 'a', text: 'Termination. Termination termination of the deal, termination.', matter: 'acme' },
  { id: 'b', text: 'About these terms, which both parties agree over many long years of dealing, termination may follow. Call 555-12-3456.', matter: 'acme' },
  { id: 'c', text: 'Termination notice about these.', matter: 'acme' },
  { id: 'd', text: 'Termination about these with which kumquat.', matter: 'beta' },
];

const words = (s) => new Set((s.toLowerCase().match(/[a-z0-9]+/g) || []).filter((w) => w.length >= 3));

// The overlap ranking of a rerank prompt, as "[2] > [1] > [3]".
function overlapRanking(body) {
  const user = body.messages.at(-1).content;
  const q = words((user.match(/\[\[ ## question ## \]\]\n([^\n]*)/) || [])[1] || '');
  const blocks = [...user.matchAll(/<passage n="(\d+)"[^>]*>([\s\S]*?)<\/passage>/g)]
    .map((m) => ({ n: Number(m[1]), overlap: [...words(m[2])].filter((w) => q.has(w)).length }));
  blocks.sort((x, y) => y.overlap - x.overlap || x.n - y.n);
  return `[[ ## ranking ## ]]\n${blocks.map((b) => `[${b.n}]`).join(' > ')}\n\n[[ ## completed ## ]]`;
}

let server;
before(async () => {
  server = await startOpenAiServer({ fallback: (req) => ({ reply: overlapRanking(req.body) }) });
});
after(() => server?.close());

async function engine() {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(DOCS);
  return e;
}
const host = () => createLlmHost({ endpoint: server.endpoint, model: 'test-model', apiKey: 'sk-js-rerank', maxRetries: 0 });
const bodies = () => server.requests.filter((r) => r.url === '/v1/chat/completions').map((r) => JSON.stringify(r.body));

test('the model orders the walled results; nothing walled or redacted is sent', async () => {
  const e = await engine();
  server.reset();
  const first = e.search(QUESTION, { mode: 'bm25', allowedMatters: ['acme'] });
  assert.deepEqual(first.map((h) => h.docId).sort(), ['a', 'b', 'c']);
  assert.notEqual(first[0].docId, 'b', 'the first stage must differ');
  const hits = await e.search(QUESTION, {
    mode: 'bm25', allowedMatters: ['acme'], rerank: 'llm', host: host(), redactPatterns: ['555-12-\\d{4}'],
  });
  assert.deepEqual(hits.map((h) => h.docId), ['b', 'c', 'a']);
  assert.equal(hits.rerank.applied, true);
  assert.equal(hits.rerank.failed, false);
  assert.equal(hits.rerank.requests, 1);
  assert.equal(hits.rerank.redactions.length, 1);
  const sent = bodies();
  assert.equal(sent.length, 1);
  for (const b of sent) {
    assert.ok(!b.includes('kumquat'), 'a walled passage was sent');
    assert.ok(!b.includes('555-12-3456'), 'not redacted');
    assert.ok(b.includes('[REDACTED]'));
  }
  // Without walls the beta passage is a candidate, and the model ranks it first.
  const open = await e.search(QUESTION, { mode: 'bm25', rerank: 'llm', host: host() });
  assert.equal(open[0].docId, 'd');
  e.dispose();
});

test('sliding windows: one request per window, a lying reply retried as JSON', async () => {
  const e = await engine();
  server.reset();
  server.script({ reply: 'I would rather not.' }, { reply: '{"ranking": [2, 1]}' });
  const hits = await e.search(QUESTION, {
    mode: 'bm25', allowedMatters: ['acme'], rerank: 'llm', host: host(), rerankWindow: 2, rerankStep: 1,
  });
  // Windows [1,3) then [0,2): 2 windows, 3 requests (one retry).
  assert.equal(hits.rerank.windows, 2);
  assert.equal(hits.rerank.requests, 3);
  assert.ok(bodies()[1].includes('JSON'));
  assert.equal(hits.length, 3);
  e.dispose();
});

test('endpoint down: the search order is kept and the failure is said', async () => {
  const e = await engine();
  const first = e.search(QUESTION, { mode: 'bm25', allowedMatters: ['acme'] });
  const down = createLlmHost({ endpoint: `http://127.0.0.1:${await deadPort()}/v1`, model: 'm', maxRetries: 0 });
  const hits = await e.search(QUESTION, { mode: 'bm25', allowedMatters: ['acme'], rerank: 'llm', host: down });
  assert.deepEqual(hits.map((h) => h.docId), first.map((h) => h.docId));
  assert.equal(hits.rerank.failed, true);
  assert.equal(hits.rerank.applied, false);
  assert.match(hits.rerank.error, /rerank window 1/);
  // No host, or bad options: clear errors.
  assert.throws(() => e.search(QUESTION, { rerank: 'llm' }), FoldbackError);
  await assert.rejects(e.search(QUESTION, { mode: 'bm25', rerank: 'llm', host: host(), rerankWindow: 1 }), /window/);
  assert.throws(() => e.search(QUESTION, { rerank: 'gpt' }), /rerank must be/);
  e.dispose();
});
