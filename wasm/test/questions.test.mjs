// engine.generateQuestions: the core's question session (foldback/questions.h)
// driven by the JS host against a real OpenAI-compatible server on loopback
// that writes a question naming each passage's first word, so the pairs are
// known. Walls (no passage of another matter in any request), redaction, an
// unusable reply retried, a dead endpoint, and the pairs trained on by
// engine.train({pairs}) as the llm source — as fb_questions_* and `foldback
// train --generate-questions` do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOpenAiServer, completion, deadPort } from './openai_server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, FoldbackError } = await import(path.join(pkgDir, 'index.js'));
const { createLlmHost } = await import(path.join(pkgDir, 'host.js'));

// The passage's first word of 4+ letters, lower case.
function firstWord(body) {
  const user = body.messages.at(-1).content;
  const passage = (user.match(/<passage[^>]*>([\s\S]*?)<\/passage>/) || [])[1] || '';
  return ((passage.match(/[A-Za-z]{4,}/) || ['nothing'])[0]).toLowerCase();
}

const reply = (body) => `[[ ## questions ## ]]\n${JSON.stringify([
  `Which clause of the contract deals with ${firstWord(body)} obligations?`,
  `Where is ${firstWord(body)} explained for the parties to this deal?`,
])}\n\n[[ ## completed ## ]]`;

let server;
let cuad;

before(async () => {
  server = await startOpenAiServer({ fallback: (r) => ({ reply: reply(r.body) }) });
  const dir = path.join(root, 'examples/corpus/cuad');
  cuad = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.txt')).sort()) {
    cuad.push({ id: f.replace(/\.txt$/, ''), title: f, text: await readFile(path.join(dir, f), 'utf8'), matter: 'acme' });
  }
});
after(() => server.close());

const host = (endpoint = server.endpoint) => createLlmHost({ endpoint, model: 'test-model', apiKey: 'sk-js-questions', maxRetries: 0 });
const bodiesSince = (n) => server.requests.slice(n).filter((r) => r.url === '/v1/chat/completions').map((r) => JSON.stringify(r.body));

test('questions for sampled passages behind the walls, redacted, as pairs the trainer takes', async () => {
  const e = await createEngine({});
  e.add(cuad);
  e.add({ id: 'beta-secret', text: 'Kumquatcorp merger terms: the price is forty million and the escrow holds ten percent of it for two years.', matter: 'beta' });
  e.buildDense();
  const seen = server.requests.length;
  const progress = [];
  const r = await e.generateQuestions(
    { sample: 4, perPassage: 2, seed: 7, allowedMatters: ['acme'], redactPatterns: ['(?i)agreement'] },
    host(), { onProgress: (p) => progress.push(p.answered) });
  assert.equal(r.passages, 4);
  assert.equal(r.answered, 4);
  assert.equal(r.failed, 0);
  assert.equal(r.pairs.length, 8);
  assert.deepEqual(progress, [1, 2, 3, 4]);
  assert.equal(r.model, 'test-model');
  assert.match(r.programHash, /^[0-9a-f]{8,}$/);
  const lines = r.pairsJsonl.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 8);
  for (const [i, l] of lines.entries()) {
    assert.equal(l.query, r.pairs[i].query);
    assert.equal(l.chunk_id, r.pairs[i].chunkId);
    assert.equal(l.source, 'llm');
    assert.equal(l.program_hash, r.programHash);
    assert.notEqual(l.doc_id, 'beta-secret');
  }
  const bodies = bodiesSince(seen);
  assert.equal(bodies.length, 4);
  for (const b of bodies) {
    assert.doesNotMatch(b, /Kumquatcorp/, 'a walled passage reached the LLM');
    assert.doesNotMatch(b, /agreement/i, 'a redacted word reached the LLM');
    assert.doesNotMatch(b, /sk-js-questions/);
  }
  assert.ok(r.redactions.length > 0);
  // The same seed samples the same passages.
  const again = await e.generateQuestions({ sample: 4, perPassage: 2, seed: 7, allowedMatters: ['acme'] }, host());
  assert.deepEqual(again.pairs.map((p) => p.chunkId), r.pairs.map((p) => p.chunkId));

  const trained = await e.train({ epochs: 1, maxPairs: 60, pairs: r.pairsJsonl, sources: 'heading' });
  assert.equal(trained.pairs.bySource.llm, 8);
  e.dispose();
});

test('an unusable reply is retried asking for JSON; a dead endpoint fails the passages, not the engine', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(cuad.slice(0, 2));
  server.script({ reply: 'I would rather not.' });
  const seen = server.requests.length;
  const r = await e.generateQuestions({ sample: 1, perPassage: 2, maxInFlight: 1 }, host());
  assert.equal(r.answered, 1);
  assert.equal(r.pairs.length, 2);
  const bodies = server.requests.slice(seen).map((x) => x.body);
  assert.equal(bodies.length, 2);
  assert.match(JSON.stringify(bodies[1]), /JSON/, 'the retry asks for JSON');

  // Every passage behind the walls: the walled one never goes; without the
  // walls it does (the check above can fail).
  e.add({ id: 'beta-secret', text: 'Kumquatcorp merger terms: the price is forty million and the escrow holds ten percent of it for two years.', matter: 'beta' });
  let from = server.requests.length;
  const walled = await e.generateQuestions({ sample: 1000, perPassage: 1, allowedMatters: ['acme'] }, host());
  assert.ok(walled.passages >= 2);
  assert.ok(!bodiesSince(from).some((b) => /Kumquatcorp/.test(b)));
  from = server.requests.length;
  const open = await e.generateQuestions({ sample: 1000, perPassage: 1 }, host());
  assert.equal(open.passages, walled.passages + 1);
  assert.ok(bodiesSince(from).some((b) => /Kumquatcorp/.test(b)));

  const down = await e.generateQuestions({ sample: 2 }, host(`http://127.0.0.1:${await deadPort()}/v1`));
  assert.equal(down.passages, 2);
  assert.equal(down.failed, 2);
  assert.equal(down.pairsJsonl, '');
  assert.equal(down.errors.length, 2);
  assert.doesNotMatch(down.errors.join(' '), /sk-js-questions/);
  e.dispose();
});

test('bad input: no host, a matter outside the walls, broken or foreign pairs', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(cuad.slice(0, 2));
  await assert.rejects(e.generateQuestions({ sample: 1 }), (err) => err instanceof FoldbackError && err.code === 'Invalid argument');
  await assert.rejects(e.generateQuestions({ matter: 'beta', allowedMatters: ['acme'] }, host()),
    (err) => err instanceof FoldbackError && err.code === 'Permission denied');
  await assert.rejects(e.generateQuestions({ perPassage: 50 }, host()),
    (err) => err instanceof FoldbackError && err.code === 'Invalid argument');
  await assert.rejects(e.train({ epochs: 1, pairs: '{"query": "x"}\nnot json' }),
    (err) => err instanceof FoldbackError && /line 1/.test(err.message));
  await assert.rejects(e.train({ epochs: 1, pairs: '{"query": "what notice?", "chunk_id": "gone#0"}' }),
    (err) => err instanceof FoldbackError && /none of the 1 question pairs/.test(err.message));
  e.dispose();
});
