// IndexedDB persistence (wasm/src/storage.js) on fake-indexeddb, an in-memory
// implementation of the IndexedDB API. Real Chromium coverage comes with the
// plugins' end-to-end tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDBFactory, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, FoldbackError } = await import(path.join(pkgDir, 'index.js'));
const { openStorage } = await import(path.join(pkgDir, 'storage.js'));

const fresh = (extra = {}) => openStorage({ indexedDB: new IDBFactory(), IDBKeyRange, chunkBytes: 1000, ...extra });

function bytes(n, seed) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; ++i) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

// Makes put() and add() throw QuotaExceededError once `budget` bytes have
// been written — what a browser does when the origin's quota runs out.
function withQuota(budget, fn) {
  const { put, add } = IDBObjectStore.prototype;
  let used = 0;
  const limited = (original) => function quotaLimited(value, key) {
    used += value && value.byteLength ? value.byteLength : 100;
    if (used > budget) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    return original.call(this, value, key);
  };
  IDBObjectStore.prototype.put = limited(put);
  IDBObjectStore.prototype.add = limited(add);
  return Promise.resolve().then(fn).finally(() => {
    IDBObjectStore.prototype.put = put;
    IDBObjectStore.prototype.add = add;
  });
}

test('snapshots save, list, load and replace under a name', async () => {
  const s = await fresh();
  assert.equal(await s.loadSnapshot('matter-a'), null);
  const a1 = bytes(4321, 1);
  const r = await s.saveSnapshot('matter-a', a1, { documents: 3 });
  assert.equal(r.size, 4321);
  assert.deepEqual(await s.loadSnapshot('matter-a'), a1);
  const a2 = bytes(2500, 2);
  await s.saveSnapshot('matter-a', a2);
  await s.saveSnapshot('matter-b', bytes(10, 3));
  assert.deepEqual(await s.loadSnapshot('matter-a'), a2);
  const list = await s.listSnapshots();
  assert.deepEqual(list.map((x) => [x.name, x.size]), [['matter-a', 2500], ['matter-b', 10]]);
  await s.deleteSnapshot('matter-a');
  assert.equal(await s.loadSnapshot('matter-a'), null);
  assert.deepEqual((await s.loadSnapshot('matter-b')).length, 10);
  // An empty snapshot is a snapshot too.
  await s.saveSnapshot('empty', new Uint8Array(0));
  assert.equal((await s.loadSnapshot('empty')).length, 0);
  s.close();
});

test('a real engine snapshot survives the round trip', async () => {
  const s = await fresh({ chunkBytes: 4096 });
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add([{ id: 'a', text: 'The Supplier shall indemnify the Customer.' }, { id: 'b', text: 'Governed by the laws of Delaware.' }]);
  await s.saveSnapshot('work', e.snapshot());
  const f = await createEngine({ snapshot: await s.loadSnapshot('work') });
  assert.deepEqual(f.search('indemnify', { mode: 'bm25' }).map((h) => h.chunkId), e.search('indemnify', { mode: 'bm25' }).map((h) => h.chunkId));
  e.dispose();
  f.dispose();
  s.close();
});

test('quota exceeded: a clear error and nothing half-written', async () => {
  const s = await fresh();
  const old = bytes(3000, 5);
  await s.saveSnapshot('matter-a', old);
  // 5 of the 8 chunks fit, the 6th put fails.
  await withQuota(5500, () => assert.rejects(s.saveSnapshot('matter-a', bytes(8000, 6)), (e) => {
    assert.ok(e instanceof FoldbackError);
    assert.equal(e.code, 'Out of range');
    assert.match(e.message, /quota exceeded/);
    assert.match(e.message, /nothing was written/);
    assert.match(e.message, /matter-a/);
    return true;
  }));
  // The previous snapshot is intact; no chunk of the failed one remains.
  assert.deepEqual(await s.loadSnapshot('matter-a'), old);
  await withQuota(500, () => assert.rejects(s.saveSnapshot('matter-new', bytes(3000, 7)), /quota/));
  assert.equal(await s.loadSnapshot('matter-new'), null);
  assert.deepEqual((await s.listSnapshots()).map((x) => x.name), ['matter-a']);
  // Failing on the header (the last put) also leaves nothing behind.
  await withQuota(3000, () => assert.rejects(s.saveSnapshot('matter-c', bytes(3000, 8)), /quota/));
  assert.equal(await s.loadSnapshot('matter-c'), null);
  // And with room again, saving works.
  await s.saveSnapshot('matter-a', bytes(8000, 6));
  assert.deepEqual(await s.loadSnapshot('matter-a'), bytes(8000, 6));
  s.close();
});

test('feedback appends are acknowledged once committed, in order, never duplicated', async () => {
  const factory = new IDBFactory();
  const s = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  const seq1 = await s.appendFeedback({ id: 'r1', rating: 5, query: 'indemnity cap' });
  const seq2 = await s.appendFeedback(new Uint8Array([1, 2, 3]), { id: 'r2' });
  assert.ok(seq2 > seq1);
  // A retried append (the host did not see the first acknowledgement) adds nothing.
  assert.equal(await s.appendFeedback({ id: 'r1', rating: 5, query: 'indemnity cap' }), seq1);
  const all = await s.readFeedback();
  assert.deepEqual(all.map((r) => [r.seq, r.id]), [[seq1, 'r1'], [seq2, 'r2']]);
  assert.deepEqual(all[1].record, new Uint8Array([1, 2, 3]));
  assert.deepEqual((await s.readFeedback({ after: seq1 })).map((r) => r.id), ['r2']);
  s.close();
  // What was acknowledged is there after reopening.
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  assert.equal((await again.readFeedback()).length, 2);
  await assert.rejects(again.appendFeedback({ rating: 1 }), (e) => e instanceof FoldbackError && /id/.test(e.message));
  // Quota exceeded on an append: rejected, not acknowledged, not stored.
  await withQuota(0, () => assert.rejects(again.appendFeedback({ id: 'r3' }), (e) => e.code === 'Out of range'));
  assert.deepEqual((await again.readFeedback()).map((r) => r.id), ['r1', 'r2']);
  again.close();
});

test('appends use strict durability', async () => {
  const factory = new IDBFactory();
  const s = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'strict' });
  const seen = [];
  const original = s._db.transaction.bind(s._db);
  s._db.transaction = (stores, mode, opts) => {
    seen.push([mode, opts && opts.durability]);
    return original(stores, mode, opts);
  };
  await s.appendFeedback({ id: 'x' });
  await s.saveSnapshot('n', bytes(10, 1));
  assert.deepEqual(seen, [['readwrite', 'strict'], ['readwrite', 'strict']]);
  s.close();
});

test('without IndexedDB: a clear error', async () => {
  await assert.rejects(openStorage({ indexedDB: null }), (e) => e instanceof FoldbackError && /IndexedDB is not available/.test(e.message));
});
