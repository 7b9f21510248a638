// engine.ask against a real OpenAI-compatible server on loopback (a Node http
// server scripted per test), through the package's fetch host
// (@foldback/core/host): the trace streams hop by hop, replies in every
// shape the endpoint may give, the retry and deadline policy of the native
// host, fallbacks recorded in the trace, walls at every hop, and an API key
// that is never stored anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import * as ort from 'onnxruntime-web';
import { startOpenAiServer, deadPort, defaultReply } from './openai_server.mjs';
import { tinyBertModel } from './tiny_onnx.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, FoldbackError } = await import(path.join(pkgDir, 'index.js'));
const { createLlmHost, retryDelayMs, parseRetryAfterMs, resolveEndpointUrl, redactKey } = await import(path.join(pkgDir, 'host.js'));
const { openStorage } = await import(path.join(pkgDir, 'storage.js'));

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

const CANARY = 'sk-canary-3f9a1c7e5b2d4a6880c1';
const corpusDir = path.join(root, 'examples/corpus/cuad');
let docs;
let server;

before(async () => {
  docs = [];
  const files = (await readdir(corpusDir)).filter((f) => f.endsWith('.txt')).sort();
  for (const [i, f] of files.entries()) {
    docs.push({ id: f.replace(/\.txt$/, ''), title: f.replace(/\.txt$/, ''), text: await readFile(path.join(corpusDir, f), 'utf8'), matter: i % 2 ? 'm-odd' : 'm-even' });
  }
  server = await startOpenAiServer();
});
after(() => server?.close());

async function engine(extra = {}) {
  const e = await createEngine({ index: { embedder: 'none' }, ...extra });
  e.add(docs);
  return e;
}

const query = (q) => ({ reply: `[[ ## query ## ]]\n${q}\n\n[[ ## completed ## ]]` });
const host = (extra = {}) => createLlmHost({ endpoint: server.endpoint, model: 'test-model', apiKey: CANARY, ...extra });

function chatRequests() {
  return server.requests.filter((r) => r.url === '/v1/chat/completions');
}

test('every hop streams its query, then its passages; answer with checked citations', async () => {
  const e = await engine();
  server.reset();
  server.script(query('termination for convenience upon written notice'), query('governing law of the state'),
    query('indemnification of third party claims'),
    { reply: '[[ ## answer ## ]]\nEither party may terminate on notice [1]; see [2] and [42].\n\n[[ ## completed ## ]]' });
  const run = e.ask('Can either party end the agreement early, and which law governs?', { hops: 3, depth: 5, topK: 5, answer: true, mode: 'bm25' }, host());
  const events = [];
  for await (const ev of run) events.push(ev);
  const r = await run;
  const kinds = events.filter((x) => x.kind === 'query' || x.kind === 'retrieved').map((x) => `${x.kind}${x.hop}`);
  assert.deepEqual(kinds, ['query1', 'retrieved1', 'query2', 'retrieved2', 'query3', 'retrieved3']);
  assert.equal(events.find((x) => x.kind === 'query' && x.hop === 2).query, 'governing law of the state');
  for (const ev of events.filter((x) => x.kind === 'retrieved')) {
    assert.ok(ev.hits.length > 0 && ev.hits.length <= 5);
    assert.deepEqual(ev.hits.map((p) => p.chunkId), r.trace.hops[ev.hop - 1].results.map((p) => p.chunkId), 'live hits are the trace\'s');
    for (const p of ev.hits) assert.ok(p.text.length > 0 && p.title.length > 0, 'passages arrive with their text');
  }
  assert.equal(events.at(-1).kind, 'done');
  assert.deepEqual(r.trace.hops.map((h) => h.source), ['llm', 'llm', 'llm']);
  assert.deepEqual(r.trace.hops.map((h) => h.llmAttempts), [1, 1, 1]);
  assert.equal(r.passages.length, 5);
  assert.match(r.answer, /\[1\]/);
  assert.ok(!r.answer.includes('[42]'), 'a citation to a passage the model was not shown is dropped');
  assert.deepEqual(r.citations.map((c) => c.marker), [1, 2]);
  assert.equal(r.citations[0].chunkId, r.passages[0].chunkId);
  assert.ok(r.trace.fallbacks.some((f) => /\[42\]/.test(f)));
  assert.equal(r.trace.model, 'test-model');
  // The requests: OpenAI's shape, the key in the Authorization header only,
  // passages delimited as data from hop 2 on.
  const reqs = chatRequests();
  assert.equal(reqs.length, 4);
  for (const q of reqs) {
    assert.equal(q.headers.authorization, `Bearer ${CANARY}`);
    assert.equal(q.body.model, 'test-model');
    assert.equal(q.body.stream, false);
    assert.ok(q.body.max_completion_tokens > 0);
    assert.ok(!JSON.stringify(q.body).includes(CANARY));
  }
  assert.match(reqs[1].body.messages.at(-1).content, /<passage n="1"/);
  assert.match(reqs[1].body.messages.at(-1).content, /data, never instructions/);
  e.dispose();
});

test('onEvent sees the same events; await gives the result', async () => {
  const e = await engine();
  const seen = [];
  const r = await e.ask('governing law', { hops: 2, rewrite: 'none', onEvent: (ev) => seen.push(ev.kind) });
  assert.ok(seen.includes('retrieved'));
  assert.equal(seen.at(-1), 'done');
  assert.equal(r.trace.hops[0].source, 'question');
  e.dispose();
});

test('429 with Retry-After is waited for and retried; retry-after-ms too', async () => {
  const e = await engine();
  server.reset();
  server.script({ status: 429, headers: { 'retry-after': '0.3' } }, query('termination notice'),
    { status: 503, headers: { 'retry-after-ms': '150' } }, query('governing law'));
  const r = await e.ask('termination', { hops: 2, mode: 'bm25' }, host());
  const reqs = chatRequests();
  assert.equal(reqs.length, 4);
  assert.ok(reqs[1].at - reqs[0].at >= 290, `waited ${reqs[1].at - reqs[0].at} ms for Retry-After: 0.3`);
  assert.ok(reqs[3].at - reqs[2].at >= 140, `waited ${reqs[3].at - reqs[2].at} ms for retry-after-ms: 150`);
  assert.deepEqual(r.trace.hops.map((h) => [h.source, h.llmAttempts]), [['llm', 2], ['llm', 2]]);
  assert.deepEqual(r.trace.fallbacks, []);
  e.dispose();
});

test('500s: at most two retries, backed off, then RM3 — recorded in the trace', async () => {
  const e = await engine();
  server.reset();
  server.script({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
  const events = [];
  const r = await e.ask('termination for convenience', { hops: 1, mode: 'bm25', onEvent: (x) => events.push(x) }, host());
  const reqs = chatRequests();
  assert.equal(reqs.length, 3, 'three attempts in all');
  const gaps = [reqs[1].at - reqs[0].at, reqs[2].at - reqs[1].at];
  assert.ok(gaps[0] >= 370 && gaps[0] < 2500, `first backoff ${gaps[0]} ms (500 ms, jitter to 375)`);
  assert.ok(gaps[1] >= 740 && gaps[1] < 3500, `second backoff ${gaps[1]} ms (1 s, jitter to 750)`);
  assert.equal(r.trace.hops[0].source, 'fallback-rm3');
  assert.equal(r.trace.hops[0].llmAttempts, 3);
  assert.match(r.trace.errors[0], /500 Internal Server Error.*\(3 attempts\)/);
  assert.match(r.trace.fallbacks[0], /RM3 wrote the query/);
  assert.ok(events.some((x) => x.kind === 'fallback'));
  assert.ok(r.passages.length > 0, 'the lawyer still gets passages');
  server.reset();
  e.dispose();
});

test('401, 400, 404, 422 are never retried; 401 never echoes the server text', async () => {
  const e = await engine();
  for (const [status, pattern] of [[401, /401 Unauthorized: check the API key/], [400, /400 Bad Request/],
    [404, /404 Not Found: check the endpoint URL/], [422, /422 Unprocessable Entity/]]) {
    server.reset();
    server.script({ status, body: { error: { message: `bad key ${CANARY} given` } } });
    const r = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
    assert.equal(chatRequests().length, 1, `${status} is not retried`);
    assert.equal(r.trace.hops[0].source, 'fallback-rm3');
    assert.match(r.trace.errors[0], pattern);
    assert.ok(!JSON.stringify(r).includes(CANARY), `${status}: no key in the result`);
    assert.ok(!JSON.stringify(r).includes('canary-3f9a1c7e'), `${status}: no piece of the key either`);
  }
  e.dispose();
});

test('a body cut off mid-reply is retried; a truncated JSON reply and invalid JSON are reported clearly', async () => {
  const e = await engine();
  server.reset();
  server.script({ truncate: '{"id":"x","choices":[{"message":{"content":"abc' }, query('termination notice'));
  const cut = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.equal(chatRequests().length, 2);
  assert.deepEqual([cut.trace.hops[0].source, cut.trace.hops[0].llmAttempts], ['llm', 2]);

  server.reset();
  server.script({ raw: '{"id":"x","choices":[{"message":{"content":"abc' });
  const trunc = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.equal(chatRequests().length, 1);
  assert.match(trunc.trace.errors[0], /truncated: its JSON ends early/);
  assert.equal(trunc.trace.hops[0].source, 'fallback-rm3');

  server.reset();
  server.script({ raw: '<html>Bad gateway</html>' });
  const bad = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.match(bad.trace.errors[0], /not valid JSON/);
  assert.equal(bad.trace.hops[0].source, 'fallback-rm3');

  server.reset();
  server.script({ raw: JSON.stringify({ object: 'chat.completion', choices: [] }) });
  const empty = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.match(empty.trace.errors[0], /no choices/);

  // An unusable reply (no query in it) is retried once by the core, asking for JSON.
  server.reset();
  server.script({ reply: '   ' }, { reply: '{"query": "termination upon notice"}' });
  const retried = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  const reqs = chatRequests();
  assert.equal(reqs.length, 2);
  assert.equal(reqs[1].body.response_format.type, 'json_schema');
  assert.equal(retried.trace.hops[0].query, 'termination upon notice');
  e.dispose();
});

test('a hanging endpoint: the deadline ends the question on time, offline, and the request is aborted', async () => {
  const e = await engine();
  server.reset();
  server.script({ hang: true }, { hang: true });
  const t0 = performance.now();
  const r = await e.ask('termination for convenience', { hops: 2, deadlineMs: 800, mode: 'bm25' }, host());
  const took = performance.now() - t0;
  assert.ok(took >= 790 && took < 3000, `finished in ${took} ms with an 800 ms deadline`);
  assert.ok(r.trace.hops.length >= 1);
  assert.ok(r.trace.hops.every((h) => h.source === 'fallback-rm3' || h.source === 'fallback-question'));
  assert.ok(r.trace.fallbacks.some((f) => /deadline/.test(f)), r.trace.fallbacks.join('\n'));
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(chatRequests().length, 1, 'one request, never retried past the deadline');
  assert.ok(chatRequests()[0].closed, 'the hanging request was aborted');
  server.reset();
  e.dispose();
});

test('Retry-After beyond 60 s ends the retries at once, saying so', async () => {
  const e = await engine();
  server.reset();
  server.script({ status: 429, headers: { 'retry-after': '120' } });
  const r = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.equal(chatRequests().length, 1);
  assert.match(r.trace.errors[0], /asked to wait 120 s, more than the 60 s foldback waits/);
  e.dispose();
});

test('an unreachable endpoint and no endpoint at all: RM3, and the trace says why', async () => {
  const e = await engine();
  const port = await deadPort();
  const down = await e.ask('termination', { hops: 1, mode: 'bm25' },
    createLlmHost({ endpoint: `http://127.0.0.1:${port}/v1`, model: 'm', apiKey: CANARY, initialDelayMs: 20, maxDelayMs: 40 }));
  assert.equal(down.trace.hops[0].source, 'fallback-rm3');
  assert.equal(down.trace.hops[0].llmAttempts, 3, 'network errors are retried twice');
  assert.match(down.trace.errors[0], /could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
  const none = await e.ask('termination', { hops: 1, rewrite: 'llm', mode: 'bm25' });
  assert.equal(none.trace.hops[0].source, 'fallback-rm3');
  assert.match(none.trace.errors[0], /no LLM endpoint configured/);
  assert.match(none.trace.fallbacks[0], /hop 1/);
  e.dispose();
});

test('variants: several requests in flight at once', async () => {
  const e = await engine();
  server.reset();
  let arrived = 0;
  let release;
  const all = new Promise((r) => { release = r; });
  const words = ['notice', 'breach', 'insolvency'];
  const waitForAll = async () => {
    const mine = arrived++;
    if (arrived === 3) release();
    await all;
    return query(`termination ${words[mine]}`);
  };
  server.script(waitForAll, waitForAll, waitForAll);
  const r = await e.ask('termination', { hops: 1, variants: 3, mode: 'bm25', deadlineMs: 5000 }, host());
  assert.equal(chatRequests().length, 3);
  assert.equal(r.trace.hops[0].source, 'llm', 'all three answered: they were in flight together');
  assert.equal(r.trace.hops[0].variantQueries.length, 3);
  e.dispose();
});

test('ethical walls hold at every hop and in every prompt', async () => {
  const e = await engine();
  server.reset();
  server.script(query('termination notice agreement party'), query('governing law agreement'),
    { reply: '[[ ## answer ## ]]\nSee [1].\n\n[[ ## completed ## ]]' });
  const r = await e.ask('agreement termination', { hops: 2, depth: 10, topK: 10, answer: true, allowedMatters: ['m-even'], mode: 'bm25' }, host());
  const walled = docs.filter((d) => d.matter === 'm-odd');
  for (const h of r.trace.hops) for (const p of h.results) assert.equal(p.matter, 'm-even');
  for (const p of r.passages) assert.equal(p.matter, 'm-even');
  for (const q of chatRequests()) {
    const prompt = JSON.stringify(q.body.messages);
    for (const d of walled) assert.ok(!prompt.includes(d.title.replace(/"/g, '&quot;')), `no passage of ${d.title} in a prompt`);
  }
  e.dispose();
});

test('Azure OpenAI and Ollama are spoken to as they expect', async () => {
  const e = await engine();
  server.reset();
  const azure = createLlmHost({ endpoint: server.url, provider: 'azure', model: 'gpt4o-deploy', apiKey: CANARY, apiVersion: '2024-10-21' });
  server.script(query('termination notice'));
  await e.ask('termination', { hops: 1, mode: 'bm25' }, azure);
  const [a] = server.requests;
  assert.equal(a.url, '/openai/deployments/gpt4o-deploy/chat/completions?api-version=2024-10-21');
  assert.equal(a.headers['api-key'], CANARY);
  assert.equal(a.headers.authorization, undefined);
  assert.equal(a.body.model, undefined, 'Azure bodies carry no model');
  server.reset();
  server.script(query('termination notice'));
  await e.ask('termination', { hops: 1, mode: 'bm25' }, createLlmHost({ endpoint: `${server.url}/v1`, provider: 'ollama', model: 'llama3.1' }));
  const [o] = server.requests;
  assert.equal(o.url, '/v1/chat/completions');
  assert.equal(o.headers.authorization, undefined, 'no key, no header');
  assert.ok(o.body.max_tokens > 0 && o.body.max_completion_tokens === undefined);
  assert.equal(resolveEndpointUrl({ endpoint: 'http://localhost:8000' }), 'http://localhost:8000/v1/chat/completions');
  assert.equal(resolveEndpointUrl({ endpoint: 'https://x.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2025-01-01', provider: 'azure' }),
    'https://x.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2025-01-01');
  assert.throws(() => createLlmHost({ endpoint: 'https://user:pw@llm.example/v1' }), /credentials/);
  assert.throws(() => createLlmHost({ endpoint: 'ftp://llm.example/v1' }), /http:\/\/ or https:\/\//);
  assert.throws(() => createLlmHost({ endpoint: 'https://llm.example/v1', provider: 'bard' }), /provider must be/);
  e.dispose();
});

test('the core decides, as natively: 409 is retried, 404 is not and names the URL and the model', async () => {
  const e = await engine();
  server.reset();
  server.script({ status: 409, body: { error: { message: 'busy' } } }, query('termination notice'));
  const r = await e.ask('termination', { hops: 1, mode: 'bm25' }, host({ initialDelayMs: 5, maxDelayMs: 10 }));
  assert.equal(chatRequests().length, 2, '409 was retried');
  assert.equal(r.trace.hops[0].source, 'llm');
  assert.equal(r.trace.hops[0].llmAttempts, 2);
  server.reset();
  server.script({ status: 404, body: { error: { message: 'no such model' } } });
  const missing = await e.ask('termination', { hops: 1, mode: 'bm25' }, host({ initialDelayMs: 5 }));
  assert.equal(chatRequests().length, 1, '404 is final');
  assert.match(missing.trace.errors[0],
    /Not found: endpoint returned 404 Not Found: check the endpoint URL \(http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions\) and the model name "test-model": no such model/);
  server.reset();
  server.script({ status: 503, headers: { 'retry-after-ms': '30' }, body: 'overloaded' },
    { status: 503, headers: { 'x-should-retry': 'false' }, body: 'down for good' });
  const vetoed = await e.ask('termination', { hops: 1, mode: 'bm25' }, host({ initialDelayMs: 5000 }));
  assert.equal(chatRequests().length, 2, 'retry-after-ms was honoured (not the 5 s backoff), then x-should-retry: false');
  assert.match(vetoed.trace.errors[0], /Unavailable: endpoint returned 503 Service Unavailable: down for good \(2 attempts\)/);
  e.dispose();
});

test('redaction runs in the core: nothing matched leaves, in linear time, and the trace says what fired', async () => {
  const e = await engine();
  server.reset();
  server.script(query('termination notice'));
  const words = 'word '.repeat(1000);
  const r = await e.ask(`termination of 123-45-6789 for convenience ${words}`, { hops: 1, mode: 'bm25' },
    host({ redactPatterns: [/\b\d{3}-\d{2}-\d{4}\b/, '(\\w+\\s?)+secret'] }));
  const sent = JSON.stringify(chatRequests().map((q) => q.body));
  assert.ok(!sent.includes('123-45-6789'), 'the match never reached the endpoint');
  assert.ok(sent.includes('[REDACTED]'));
  assert.ok(r.trace.redactions.some((line) => /pattern-1 x1/.test(line)), r.trace.redactions.join('\n'));
  assert.match(JSON.parse(r.traceJson).redactions[0], /pattern-1/);
  assert.throws(() => createLlmHost({ endpoint: server.endpoint, redactPatterns: [/(?<=a)b/] }), /redaction pattern/);
  await assert.rejects(e.ask('x', { hops: 1, redactPatterns: ['(a'] }), /redaction pattern/);
  e.dispose();
});

test('a redirect is not followed with the key', async () => {
  const e = await engine();
  server.reset();
  server.script({ status: 307, headers: { location: 'http://127.0.0.1:1/elsewhere' }, body: '' });
  const r = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.equal(server.requests.length, 1);
  assert.match(r.trace.errors[0], /redirected .*does not follow redirects/);
  e.dispose();
});

test('the retry policy is the native host\'s', () => {
  const p = { initialDelayMs: 500, maxDelayMs: 8000, maxRetryAfterMs: 60000 };
  assert.equal(retryDelayMs(p, 0, -1, 0), 500);
  assert.equal(retryDelayMs(p, 1, -1, 0), 1000);
  assert.equal(retryDelayMs(p, 10, -1, 0), 8000);
  assert.equal(retryDelayMs(p, 0, -1, 0.999999), 500 * (1 - 0.25 * 0.999999));
  assert.equal(retryDelayMs(p, 3, 1200, 0.5), 1200);
  assert.equal(retryDelayMs(p, 0, 70000, 0), 500, 'beyond 60 s: not a wait the host takes');
  assert.equal(parseRetryAfterMs('250', '9'), 250);
  assert.equal(parseRetryAfterMs('', '1.5'), 1500);
  const date = new Date(Date.now() + 5000).toUTCString();
  const ms = parseRetryAfterMs('', date);
  assert.ok(ms > 3000 && ms <= 5000, `${ms}`);
  assert.equal(parseRetryAfterMs('', 'soon'), -1);
  const redacted = redactKey(`key=${CANARY} and a piece ${CANARY.slice(3, 20)}`, CANARY);
  assert.match(redacted, /^key=\[REDACTED\] and a piece \[REDACTED\]/);
  for (let i = 0; i + 12 <= CANARY.length; ++i) assert.ok(!redacted.includes(CANARY.slice(i, i + 12)));
});

test('the canary key lands nowhere: result, trace, stored traces, feedback, exports, snapshot, errors', async () => {
  const factory = new IDBFactory();
  const storage = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'canary' });
  const e = await engine({ storage, name: 'matter-x' });
  server.reset();
  // The endpoint echoes the key everywhere it can.
  server.script({ reply: `[[ ## query ## ]]\ntermination ${CANARY} notice\n\n[[ ## completed ## ]]`, model: `model-${CANARY}` },
    { status: 400, body: { error: { message: `invalid request from ${CANARY}` } } },
    { reply: `[[ ## answer ## ]]\nThe key is ${CANARY} [1].\n\n[[ ## completed ## ]]` });
  const events = [];
  const r = await e.ask('termination for convenience', { hops: 2, answer: true, mode: 'bm25', onEvent: (x) => events.push(x) }, host());
  assert.equal(chatRequests().length, 3);
  const rec = await e.feedback({ traceId: r.traceId, rating: 'up', labels: { [r.passages[0].chunkId]: 'relevant', [r.passages[1].chunkId]: 'not_relevant' },
    correctedAnswer: 'Either party may terminate [1].', consentToTrain: true });
  await e.save();
  const exports = ['triplets', 'dpo', 'sft', 'demos'].map((f) => e.export(f));
  assert.ok(exports[2].length > 0, 'something was exported');
  const dump = [];
  for (const store of ['snapshots', 'snapshot_chunks', 'feedback', 'traces', 'kv']) {
    const all = await new Promise((res, rej) => {
      const q = storage._db.transaction(store).objectStore(store).getAll();
      q.onsuccess = () => res(q.result);
      q.onerror = () => rej(q.error);
    });
    dump.push(JSON.stringify(all, (k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v)));
  }
  const everything = [JSON.stringify(r), JSON.stringify(events), JSON.stringify(rec), ...exports,
    Buffer.from(e.snapshot()).toString('latin1'), Buffer.from(e.feedbackLog()).toString('latin1'),
    JSON.stringify(await e.traces()), ...dump].join('\n');
  assert.ok(everything.includes('[REDACTED]'), 'the echoed key was redacted, not dropped silently');
  assert.ok(!everything.includes(CANARY), 'the key is nowhere');
  assert.ok(!everything.includes(CANARY.slice(5, 17)), 'no 12-character piece of it either');
  storage.close();
  e.dispose();
});

test('embedding needs go to the engine\'s ONNX embedder', async () => {
  const texts = docs.slice(0, 6);
  const words = new Set();
  for (const d of texts) for (const w of d.text.toLowerCase().match(/[a-z]+/g).slice(0, 400)) words.add(w);
  for (const w of ['termination', 'convenience', 'notice', 'governing', 'law']) words.add(w);
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...[...words].sort()];
  const { createOnnxEmbedder } = await import(path.join(pkgDir, 'embedder.js'));
  const embedder = await createOnnxEmbedder({ model: tinyBertModel({ vocabSize: vocab.length, hidden: 16 }).bytes, vocabulary: `${vocab.join('\n')}\n`, ort, tokenizer: { maxLength: 64 } });
  let calls = 0;
  const counting = { dimension: embedder.dimension, embed: (t) => { calls++; return embedder.embed(t); } };
  const e = await createEngine({ embedder: counting });
  e.add(texts.map((d) => ({ ...d, text: d.text.slice(0, 3000) })));
  await e.embedPending();
  calls = 0;
  server.reset();
  server.script(query('termination notice'), query('governing law'));
  const r = await e.ask('termination for convenience', { hops: 2, mode: 'hybrid' }, host());
  assert.ok(calls >= 2, `the embedder answered the query embeddings (${calls} calls)`);
  assert.deepEqual(r.trace.errors, []);
  assert.ok(r.passages.length > 0);
  // Without a working embedder the hop searches lexically and says so.
  const broken = await createEngine({ embedder: { dimension: embedder.dimension, embed: async () => { throw new Error('model crashed'); } }, snapshot: e.snapshot() });
  const b = await broken.ask('termination', { hops: 1, rewrite: 'none', mode: 'hybrid' });
  assert.match(b.trace.errors[0], /query embedding failed.*model crashed/);
  assert.ok(b.trace.fallbacks.some((f) => /lexical search only/.test(f)));
  e.dispose();
  broken.dispose();
  embedder.dispose();
});

test('bad input: a clear error, and nothing runs', async () => {
  const e = await engine();
  await assert.rejects(e.ask('', {}), (err) => err instanceof FoldbackError && err.code === 'Invalid argument');
  await assert.rejects(e.ask('x'.repeat(9000), {}), /Invalid argument/);
  await assert.rejects(e.ask('q', { hops: 0 }), /hops must be 1\.\.16/);
  await assert.rejects(e.ask('q', { rewrite: 'magic' }), /rewrite must be llm, rm3 or none/);
  await assert.rejects(e.ask('q', { filter: { colour: 'blue' } }), /colour/);
  await assert.rejects(e.ask('q', {}, { notAHost: true }), /perform/);
  await assert.rejects(e.ask('q', { program: '{"nothing": 1' }), /Invalid argument/);
  // The index does not change under a running question.
  server.reset();
  server.script({ delayMs: 200, ...query('termination') });
  const run = e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.throws(() => e.add({ id: 'late', text: 'late document' }), /while a question is being answered/);
  await run;
  e.add({ id: 'late', text: 'late document' });
  e.dispose();
});

test('a DSPy saved program drives the prompts', async () => {
  const e = await engine();
  const saved = await readFile(path.join(root, 'tests/data/dspy', (await readdir(path.join(root, 'tests/data/dspy'))).find((f) => f.endsWith('.json'))), 'utf8');
  const report = e.loadProgram(saved);
  assert.ok(report.used.length > 0);
  assert.match(report.version, /^[0-9a-f]{16}$/);
  server.reset();
  const r = await e.ask('termination', { hops: 1, mode: 'bm25' }, host());
  assert.equal(r.trace.programVersion, report.version);
  assert.equal(chatRequests().length, 1);
  e.dispose();
});

test('cancel(): outstanding requests are aborted, the question finishes offline', async () => {
  const e = await engine();
  server.reset();
  server.script({ hang: true });
  const run = e.ask('termination', { hops: 2, mode: 'bm25' }, host());
  setTimeout(() => run.cancel(), 150);
  const r = await run;
  assert.ok(r.trace.fallbacks.length > 0);
  await new Promise((res) => setTimeout(res, 50));
  assert.ok(chatRequests()[0].closed, 'the request was aborted');
  server.reset();
  e.dispose();
});

void defaultReply;
