// Snapshots cross between the native library and the wasm build, both ways:
// the native CLI (build/bin/foldback) writes an index that the wasm engine
// loads and searches, and a snapshot written by the wasm engine is searched
// by the native CLI — with identical chunk ids and scores, BM25 and dense
// (the HNSW graph travels in the snapshot; nothing is rebuilt on load).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const { createEngine } = await import(pkg);
const cli = process.env.FOLDBACK_CLI || path.join(root, 'build/bin/foldback');
const skip = existsSync(cli) ? false : `the native CLI is not built (${cli}); ./run.sh test builds it first`;
const corpus = path.join(root, 'examples/corpus/cuad');

const queries = [
  'governing law of the state of delaware',
  'termination for convenience upon written notice',
  'indemnification of third party claims',
  'confidential information shall not be disclosed',
  'exclusivity and non-compete',
  'insurance coverage requirements',
];

function nativeSearch(dir, query, { mode, topK = 10, allowedMatters } = {}) {
  const args = ['search', '--index', dir, '--json', '--mode', mode, '--top-k', String(topK)];
  if (allowedMatters) args.push('--allowed-matters', allowedMatters.join(','));
  args.push(query);
  return JSON.parse(execFileSync(cli, args, { encoding: 'utf8' }));
}

function assertSameHits(wasmHits, nativeHits, label) {
  assert.ok(nativeHits.length > 0, `${label}: no native hits`);
  assert.deepEqual(wasmHits.map((h) => h.chunkId), nativeHits.map((h) => h.chunk_id), label);
  for (let i = 0; i < wasmHits.length; ++i) {
    for (const [w, n] of [['score', 'score'], ['bm25', 'bm25'], ['dense', 'dense']]) {
      const a = wasmHits[i][w];
      const b = nativeHits[i][n];
      assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${label} #${i} ${w}: wasm ${a} native ${b}`);
    }
  }
}

test('an index written by the native CLI loads and searches identically in wasm', { skip }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'foldback-native-'));
  try {
    execFileSync(cli, ['ingest', '--index', dir, '--matter', 'acme', corpus], { stdio: 'pipe' });
    const bytes = await readFile(path.join(dir, 'index.fbsnap'));
    const engine = await createEngine({ snapshot: bytes });
    const stats = engine.stats();
    assert.ok(stats.documents >= 20);
    assert.equal(stats.vectors, stats.chunks, 'the dense index came with the snapshot');
    for (const q of queries) {
      for (const mode of ['bm25', 'dense', 'hybrid']) {
        assertSameHits(engine.search(q, { mode, topK: 10 }), nativeSearch(dir, q, { mode }), `${mode}: ${q}`);
      }
    }
    // Walls hold on both sides: no matter 'beta' documents exist, so nothing is visible.
    assert.equal(engine.search('governing law', { mode: 'hybrid', allowedMatters: ['beta'] }).length, 0);
    assert.equal(nativeSearch(dir, 'governing law', { mode: 'hybrid', allowedMatters: ['beta'] }).length, 0);
    // Re-snapshotting in wasm gives the native bytes back.
    assert.deepEqual(Buffer.from(engine.snapshot()), bytes);
    engine.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a snapshot written in wasm is searched identically by the native CLI', { skip }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'foldback-wasm-'));
  try {
    const files = (await readdir(corpus)).filter((f) => f.endsWith('.txt')).sort();
    const engine = await createEngine();
    const docs = [];
    for (const [i, f] of files.entries()) {
      docs.push({ id: f.replace(/\.txt$/, ''), title: f, text: await readFile(path.join(corpus, f), 'utf8'),
        matter: i % 2 ? 'acme' : 'beta', metadata: { source: 'cuad' } });
    }
    await engine.addMany(docs);
    engine.buildDense();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'index.fbsnap'), engine.snapshot());
    const info = execFileSync(cli, ['info', '--index', dir], { encoding: 'utf8' });
    assert.match(info, new RegExp(`documents +${files.length}\\b`));
    assert.match(info, /vectors +\d+ \(0 pending\)/);
    for (const q of queries) {
      for (const mode of ['bm25', 'dense', 'hybrid']) {
        assertSameHits(engine.search(q, { mode, topK: 10 }), nativeSearch(dir, q, { mode }), `${mode}: ${q}`);
        assertSameHits(engine.search(q, { mode, topK: 5, allowedMatters: ['acme'] }),
          nativeSearch(dir, q, { mode, topK: 5, allowedMatters: ['acme'] }), `walled ${mode}: ${q}`);
      }
    }
    for (const h of engine.search('governing law', { mode: 'hybrid', allowedMatters: ['acme'] })) assert.equal(h.matter, 'acme');
    engine.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a feedback log written in wasm is read, listed and exported identically by the native CLI', { skip }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'foldback-wasm-feedback-'));
  try {
    const files = (await readdir(corpus)).filter((f) => f.endsWith('.txt')).sort();
    const engine = await createEngine({ index: { embedder: 'none' } });
    for (const [i, f] of files.entries()) {
      engine.add({ id: f.replace(/\.txt$/, ''), title: f, text: await readFile(path.join(corpus, f), 'utf8'), matter: i % 2 ? 'acme' : 'beta' });
    }
    const asked = [];
    for (const q of queries.slice(0, 4)) asked.push(await engine.ask(q, { hops: 2, depth: 6, topK: 6, mode: 'bm25' }));
    for (const [i, r] of asked.entries()) {
      await engine.feedback({ traceId: r.traceId, rating: i % 2 ? 'down' : 'up', consentToTrain: i !== 3, privileged: i === 2,
        labels: { [r.passages[0].chunkId]: 'relevant', [r.passages[1].chunkId]: 'not_relevant' },
        correctedAnswer: `Corrected answer ${i} [1].`, critique: `critique ${i}` });
    }
    await engine.forgetMatter('beta');
    await writeFile(path.join(dir, 'index.fbsnap'), engine.snapshot());
    await writeFile(path.join(dir, 'feedback.log'), engine.feedbackLog());
    const listed = JSON.parse(execFileSync(cli, ['feedback', '--index', dir, '--list', '--json'], { encoding: 'utf8' }));
    assert.deepEqual(listed.map((r) => r.record_id), engine.feedbackRecords().map((r) => r.recordId));
    assert.deepEqual(listed.map((r) => r.critique), engine.feedbackRecords().map((r) => r.critique));
    for (const format of ['triplets', 'dpo', 'dpo-chat', 'openai-preference', 'sft', 'demos']) {
      const out = path.join(dir, `export.${format}`);
      execFileSync(cli, ['export', '--index', dir, '--format', format, '--out', out], { stdio: 'pipe' });
      assert.equal(engine.export(format), await readFile(out, 'utf8'), `${format}: the same bytes natively and in wasm`);
    }
    engine.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
