// Terms and connectors through the npm package: phrases, prefixes, /N, /s,
// walls, the auto fallback and strict errors, a snapshot round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const { createEngine, FoldbackError } = await import(pkg);

const docs = [
  { id: 'a', text: 'Either party may terminate this Agreement for convenience. Termination for convenience requires payment.', matter: 'm1' },
  { id: 'b', text: 'The Customer may terminate this Agreement for cause. Convenience fees are not refundable.', matter: 'm2' },
  { id: 'c', text: 'The Supplier shall indemnify the Customer against claims brought by any third party.' },
  { id: 'd', text: 'The Supplier shall indemnify the Customer for its own losses. Nothing here benefits a third party.' },
];

const ids = (hits) => [...new Set(hits.map((h) => h.docId))].sort();

test('phrases, prefixes and connectors', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const o = { mode: 'bm25', topK: 20, syntax: 'connectors' };
  assert.deepEqual(ids(e.search('"termination for convenience"', o)), ['a']);
  assert.deepEqual(ids(e.search('terminat* /s convenience', o)), ['a']);
  assert.deepEqual(ids(e.search('terminat* /p convenience', o)), ['a', 'b']);
  assert.deepEqual(ids(e.search('indemnif* /10 "third party"', o)), ['c']);
  assert.deepEqual(ids(e.search('indemnif* /20 "third party"', o)), ['c', 'd']);
  // The default is auto: the same query without options reads the connectors.
  assert.deepEqual(ids(e.search('"termination for convenience"', { mode: 'bm25' })), ['a']);
  // Plain: the quotes are punctuation.
  assert.ok(ids(e.search('"termination for convenience"', { mode: 'bm25', syntax: 'plain' })).length >= 2);
  // Walls hold.
  assert.deepEqual(ids(e.search('terminat* /p convenience', { ...o, allowedMatters: ['m2'] })), ['b']);
  e.dispose();
});

test('malformed queries: auto falls back, connectors throws', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const q = 'Can the customer terminate for "convenience?';
  const plain = e.search(q, { mode: 'bm25', syntax: 'plain' }).map((h) => [h.chunkId, h.score]);
  assert.deepEqual(e.search(q, { mode: 'bm25' }).map((h) => [h.chunkId, h.score]), plain);
  for (const bad of [q, 'terminate /0 convenience', '*']) {
    assert.throws(() => e.search(bad, { mode: 'bm25', syntax: 'connectors' }), (err) => {
      assert.ok(err instanceof FoldbackError);
      assert.equal(err.code, 'Invalid argument');
      return true;
    });
  }
  assert.throws(() => e.search('x', { syntax: 'lexis' }), /syntax must be auto, plain or connectors/);
  e.dispose();
});

test('positions survive a snapshot', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const f = await createEngine({ snapshot: e.snapshot() });
  const o = { mode: 'bm25', syntax: 'connectors' };
  for (const q of ['"termination for convenience"', 'indemnif* /10 "third party"', 'terminat* /s convenience']) {
    assert.deepEqual(f.search(q, o).map((h) => [h.chunkId, h.score]), e.search(q, o).map((h) => [h.chunkId, h.score]));
  }
  e.dispose();
  f.dispose();
});
