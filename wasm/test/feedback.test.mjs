// engine.feedback / export / forgetMatter / save on the real wasm core, with
// IndexedDB (fake-indexeddb): records validated as the native CLI validates
// them (nothing written on bad input), framed into foldback's log format,
// durably appended (durability 'strict') before the promise resolves, folded
// back at once, restored by createEngine({storage, name}), exported with
// consent only, behind the walls, never after their matter was forgotten.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDBFactory, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine, FoldbackError, feedbackTextHash } = await import(path.join(pkgDir, 'index.js'));
const { openStorage } = await import(path.join(pkgDir, 'storage.js'));

const corpusDir = path.join(root, 'examples/corpus/cuad');
let docs;

before(async () => {
  docs = [];
  const files = (await readdir(corpusDir)).filter((f) => f.endsWith('.txt')).sort();
  for (const [i, f] of files.entries()) {
    docs.push({ id: f.replace(/\.txt$/, ''), title: f.replace(/\.txt$/, ''), text: await readFile(path.join(corpusDir, f), 'utf8'),
      matter: i % 3 === 0 ? 'acme' : i % 3 === 1 ? 'globex' : '' });
  }
});

async function fresh(name = 'fb') {
  const factory = new IDBFactory();
  const storage = await openStorage({ indexedDB: factory, IDBKeyRange, name });
  return { factory, storage };
}

async function engineWith(storage, name = 'matter-1') {
  const e = await createEngine({ storage, name, index: { embedder: 'none' }, user: 'u-7' });
  if (e.stats().documents === 0) {
    e.add(docs);
    await e.save();
  }
  return e;
}

async function storedEntries(storage) {
  return new Promise((res, rej) => {
    const q = storage._db.transaction('feedback').objectStore('feedback').getAll();
    q.onsuccess = () => res(q.result);
    q.onerror = () => rej(q.error);
  });
}

function withQuota(budget, fn) {
  const { put, add } = IDBObjectStore.prototype;
  let used = 0;
  const limited = (original) => function quotaLimited(value, key) {
    used += 100;
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

test('a record is built from the trace, persisted strictly, and restored with the snapshot', async () => {
  const { factory, storage } = await fresh();
  const e = await engineWith(storage);
  const r = await e.ask('termination for convenience upon written notice', { hops: 2, depth: 5, topK: 5, mode: 'bm25' });
  const [p1, p2, p3] = r.passages;
  const modes = [];
  const original = storage._db.transaction.bind(storage._db);
  storage._db.transaction = (stores, mode, opts) => {
    if (String(stores).includes('feedback') && mode === 'readwrite') modes.push(opts && opts.durability);
    return original(stores, mode, opts);
  };
  const rec = await e.feedback({ traceId: r.traceId, rating: 'up', labels: { [p1.chunkId]: 'relevant', [p2.chunkId]: 'not_relevant', [p3.chunkId]: 'partly' },
    critique: 'Missed the amendment.', correctedAnswer: 'Yes, on 30 days notice [1].', consentToTrain: true, tags: ['termination'] });
  storage._db.transaction = original;
  assert.deepEqual(modes, ['strict'], 'the append was a strict-durability transaction');
  assert.match(rec.recordId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/);
  assert.equal(rec.traceId, r.traceId);
  assert.equal(rec.question, r.question);
  assert.deepEqual(rec.hopQueries, r.trace.hops.map((h) => h.query));
  assert.deepEqual(rec.results.map((x) => x.chunkId), r.passages.map((p) => p.chunkId));
  assert.equal(rec.results[0].textHash, await feedbackTextHash(p1.text));
  assert.equal(rec.results[0].rank, 1);
  assert.equal(rec.user, 'u-7');
  assert.equal(rec.rating, 'up');
  assert.deepEqual(rec.labels.map((l) => l.label).sort(), ['not_relevant', 'partly', 'relevant']);
  assert.equal(rec.programVersion, r.trace.programVersion);
  const entries = await storedEntries(storage);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].id, rec.recordId);
  assert.ok(entries[0].record instanceof Uint8Array, 'stored as framed log bytes');
  storage.close();

  // A new page: the same corpus, the same feedback, the same traces.
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  const f = await createEngine({ storage: again, name: 'matter-1' });
  assert.equal(f.stats().documents, docs.length);
  const records = f.feedbackRecords();
  assert.equal(records.length, 1);
  assert.deepEqual(records[0], rec);
  const t = await f.trace(r.traceId);
  assert.equal(t.question, r.question);
  assert.deepEqual(t.trace.fused.map((h) => h.chunkId), r.passages.map((p) => p.chunkId));
  // Feedback on an old question still works after the reload.
  const second = await f.feedback({ traceId: r.traceId, rating: 'down' });
  assert.equal(f.feedbackRecords().length, 2);
  assert.equal(second.rating, 'down');
  // Another engine name in the same database keeps its own log.
  const other = await createEngine({ storage: again, name: 'matter-2', index: { embedder: 'none' } });
  assert.equal(other.feedbackRecords().length, 0);
  again.close();
});

test('bad feedback: a clear error, nothing written, and the next one works', async () => {
  const { storage } = await fresh();
  const e = await engineWith(storage);
  const r = await e.ask('governing law of the state', { hops: 1, mode: 'bm25' });
  const p = r.passages[0];
  const bad = [
    [{ traceId: 'no-such-trace', rating: 'up' }, 'Not found', /unknown trace 'no-such-trace'/],
    [{ rating: 'up' }, 'Invalid argument', /traceId/],
    [{ traceId: r.traceId, labels: { 'nope#1-ffff': 'relevant' } }, 'Not found', /unknown chunk 'nope#1-ffff'/],
    [{ traceId: r.traceId, labels: { [p.chunkId]: 'great' } }, 'Invalid argument', /label must be relevant, partly or not_relevant/],
    [{ traceId: r.traceId, labels: [{ chunkId: p.chunkId, label: 'relevant' }, { chunkId: p.chunkId, label: 'not_relevant' }] },
      'Invalid argument', /labelled both relevant and not_relevant/],
    [{ traceId: r.traceId, rating: 'meh' }, 'Invalid argument', /rating must be up, down or 1\.\.5/],
    [{ traceId: r.traceId, rating: 9 }, 'Invalid argument', /rating/],
    [{ traceId: r.traceId, critique: 'x'.repeat(70 * 1024) }, 'Out of range', /critique/],
    [{ traceId: r.traceId, tags: Array.from({ length: 1001 }, (_, i) => `t${i}`) }, 'Out of range', /tags/],
    [{ traceId: r.traceId }, 'Invalid argument', /nothing to record/],
    [{ traceId: r.traceId, rating: 'up', matter: 'globex', allowedMatters: ['acme'] }, 'Permission denied', /ethical wall/],
  ];
  for (const [input, code, pattern] of bad) {
    await assert.rejects(e.feedback(input), (err) => {
      assert.ok(err instanceof FoldbackError, String(err));
      assert.equal(err.code, code, `${JSON.stringify(input).slice(0, 80)}: ${err.message}`);
      assert.match(err.message, pattern);
      return true;
    });
  }
  assert.equal((await storedEntries(storage)).length, 0, 'nothing was written');
  assert.equal(e.feedbackRecords().length, 0);
  assert.equal(e.feedbackLog().length, 0);
  await e.feedback({ traceId: r.traceId, rating: 5 });
  assert.equal(e.feedbackRecords()[0].rating, '5');
  assert.equal((await storedEntries(storage)).length, 1);
  storage.close();
});

test('quota exceeded: rejected, not acknowledged, not kept; the log stays well-formed', async () => {
  const { factory, storage } = await fresh();
  const e = await engineWith(storage);
  const r = await e.ask('confidential information', { hops: 1, mode: 'bm25' });
  await e.feedback({ traceId: r.traceId, rating: 'up' });
  await withQuota(0, () => assert.rejects(e.feedback({ traceId: r.traceId, rating: 'down', critique: 'lost' }), (err) => {
    assert.equal(err.code, 'Out of range');
    assert.match(err.message, /quota exceeded.*nothing was written/);
    return true;
  }));
  assert.equal(e.feedbackRecords().length, 1, 'the refused record is not live');
  const third = await e.feedback({ traceId: r.traceId, rating: '4', critique: 'kept' });
  storage.close();
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  const f = await createEngine({ storage: again, name: 'matter-1' });
  const info = f.feedbackInfo();
  assert.deepEqual(info.damage, [], 'no damage: the refused entry left no trace in the log');
  assert.equal(info.tornTailBytes, 0);
  assert.deepEqual(f.feedbackRecords().map((x) => x.critique), ['', 'kept']);
  assert.equal(f.feedbackRecords()[1].recordId, third.recordId);
  again.close();
});

test('a retried record id is recorded once', async () => {
  const { storage } = await fresh();
  const e = await engineWith(storage);
  const r = await e.ask('insurance', { hops: 1, mode: 'bm25' });
  const a = await e.feedback({ traceId: r.traceId, rating: 'up', recordId: '01900000-0000-7000-8000-000000000001' });
  const b = await e.feedback({ traceId: r.traceId, rating: 'up', recordId: '01900000-0000-7000-8000-000000000001' });
  assert.deepEqual(a, b);
  assert.equal(e.feedbackRecords().length, 1);
  assert.equal((await storedEntries(storage)).length, 1);
  storage.close();
});

// A lawyer changes their judgment: replaceEarlier retires their earlier
// record of the question in the same durable write (one stored entry), the
// next search folds back the new judgment only, the export no longer holds
// what was consented before, and a reopened engine reads the same.
test('a new judgment replaces the earlier one in one write', async () => {
  const { factory, storage } = await fresh('replace');
  const e = await engineWith(storage);
  const q = 'termination for convenience upon written notice';
  const r = await e.ask(q, { hops: 1, depth: 10, topK: 10, rewrite: 'none', mode: 'bm25' });
  const plain = e.search(q, { mode: 'bm25', topK: 10, useFeedback: false }).map((h) => h.chunkId);
  const first = await e.feedback({ traceId: r.traceId, rating: 'up', consentToTrain: true,
    correctedAnswer: 'CONSENTED answer', labels: { [r.passages[7].chunkId]: 'relevant', [r.passages[0].chunkId]: 'not_relevant' } });
  assert.deepEqual(first.replaces, []);
  assert.notDeepEqual(e.search(q, { mode: 'bm25', topK: 10 }).map((h) => h.chunkId), plain);
  assert.match(await e.export('sft'), /CONSENTED/);
  const entries = (await storedEntries(storage)).length;
  const second = await e.feedback({ traceId: r.traceId, rating: 'down', critique: 'privileged after all',
    consentToTrain: true, privileged: true, replaceEarlier: true });
  assert.deepEqual(second.replaces, [first.recordId]);
  assert.equal((await storedEntries(storage)).length, entries + 1, 'one write');
  assert.deepEqual(e.feedbackRecords().map((x) => x.recordId), [second.recordId]);
  assert.deepEqual(e.search(q, { mode: 'bm25', topK: 10 }).map((h) => h.chunkId), plain, 'the old labels are gone');
  assert.doesNotMatch(await e.export('sft'), /CONSENTED|privileged after all/);
  // The same meaning after a reload from storage.
  storage.close();
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'replace' });
  const e2 = await engineWith(again);
  assert.deepEqual(e2.feedbackRecords().map((x) => x.recordId), [second.recordId]);
  assert.equal(e2.feedbackInfo().deleted, 1);
  again.close();
});

test('folded back at once: the next search knows the labels', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const q = 'termination for convenience upon written notice';
  const r = await e.ask(q, { hops: 1, depth: 10, topK: 10, rewrite: 'none', mode: 'bm25' });
  assert.equal(e.expandQuery(q), null, 'no feedback yet');
  const before = e.search(q, { mode: 'bm25', topK: 10 }).map((h) => h.chunkId);
  const liked = r.passages[7];
  await e.feedback({ traceId: r.traceId, labels: { [liked.chunkId]: 'relevant', [r.passages[0].chunkId]: 'not_relevant' } });
  const x = e.expandQuery(q);
  assert.equal(x.neighbours.length, 1, 'the record is a neighbour of the same question');
  const after = e.search(q, { mode: 'bm25', topK: 10 }).map((h) => h.chunkId);
  assert.ok(after.indexOf(liked.chunkId) < before.indexOf(liked.chunkId), 'the passage marked relevant moved up');
  assert.deepEqual(e.search(q, { mode: 'bm25', topK: 10, useFeedback: false }).map((h) => h.chunkId), before);
  assert.equal(e.feedbackInfo().foldBack.relevance, 1);
  e.dispose();
});

// The fold-back a search uses follows its walls from one search to the next
// (fold-backs are cached per walls): a record of one matter never shapes a
// search behind another matter's wall, whichever search came before.
test('folded back behind each search\'s own walls, search after search', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const q = 'termination for convenience upon written notice';
  const acme = { mode: 'bm25', topK: 10, allowedMatters: ['acme'] };
  const globex = { mode: 'bm25', topK: 10, allowedMatters: ['globex'] };
  const r = await e.ask(q, { hops: 1, depth: 10, topK: 10, rewrite: 'none', ...acme });
  const liked = r.passages[r.passages.length - 1];
  await e.feedback({ traceId: r.traceId, labels: { [liked.chunkId]: 'relevant', [r.passages[0].chunkId]: 'not_relevant' } });
  const ids = (o) => e.search(q, o).map((h) => `${h.chunkId} ${h.score}`);
  const acmeFolded = ids(acme);
  assert.notDeepEqual(acmeFolded, ids({ ...acme, useFeedback: false }), 'the acme record shapes an acme search');
  for (let round = 0; round < 2; ++round) {
    assert.deepEqual(ids(globex), ids({ ...globex, useFeedback: false }), 'nothing of acme behind the globex wall');
    assert.equal(e.expandQuery(q, globex).neighbours.length, 0);
    assert.deepEqual(ids(acme), acmeFolded);
    assert.equal(e.expandQuery(q, acme).neighbours.length, 1);
  }
  e.dispose();
});

test('exports: consent only, never privileged, never forgotten, behind the walls, deterministic', async () => {
  const { factory, storage } = await fresh();
  const e = await engineWith(storage);
  const ask = (q, allowed) => e.ask(q, { hops: 1, depth: 6, topK: 6, mode: 'bm25', ...(allowed ? { allowedMatters: allowed } : {}) });
  const judge = async (r, extra) => e.feedback({
    traceId: r.traceId, rating: 'up', correctedAnswer: 'The corrected answer [1].',
    labels: { [r.passages[0].chunkId]: 'relevant', [r.passages[1].chunkId]: 'not_relevant' }, ...extra,
  });
  const acme = await ask('termination for convenience', ['acme']);
  const globex = await ask('termination for convenience', ['globex']);
  const noConsent = await ask('governing law', ['acme']);
  const privileged = await ask('indemnification', ['acme']);
  const rA = await judge(acme, { consentToTrain: true });
  const rG = await judge(globex, { consentToTrain: true });
  await judge(noConsent, { consentToTrain: false });
  await judge(privileged, { consentToTrain: true, privileged: true });
  assert.equal(rA.matter, 'acme');
  const globexText = globex.passages.find((x) => x.matter === 'globex').text.slice(0, 60);
  assert.equal(rG.matter, 'globex');
  const lines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const sft = lines(e.export('sft'));
  assert.equal(sft.length, 2, 'two consented, non-privileged records');
  for (const row of sft) {
    assert.deepEqual(row.messages.map((m) => m.role), ['system', 'user', 'assistant']);
    assert.equal(row.messages[2].content, 'The corrected answer [1].');
  }
  const triplets = lines(e.export('triplets'));
  assert.ok(triplets.length >= 2);
  for (const t of triplets) {
    assert.ok(t.anchor && t.positive && t.negative);
    // sentence-transformers reads the columns by position, not by name.
    assert.deepEqual(Object.keys(t), ['anchor', 'positive', 'negative']);
  }
  const dpo = lines(e.export('dpo'));
  for (const d of dpo) assert.ok('prompt' in d && 'chosen' in d && 'rejected' in d);
  const demos = JSON.parse(e.export('demos'));
  assert.ok(demos.generate_query.demos.length >= 1);
  assert.equal(e.export('sft'), e.export('sft'), 'the same bytes every time');
  // Walls: a user walled off from globex exports nothing of it.
  const walled = e.exportWithReport('sft', { allowedMatters: ['acme'] });
  assert.equal(lines(walled.text).length, 1);
  assert.ok(!walled.text.includes(globexText));
  assert.equal(walled.report.privileged, 1);
  assert.equal(walled.report.noConsent, 1);
  // The wall is the core's: the globex record is counted, not hidden from it.
  assert.equal(walled.report.records, 4);
  assert.equal(walled.report.walled, 1);
  assert.equal(e.exportWithReport('sft').report.walled, 0);
  assert.throws(() => e.export('csv'), /export format must be one of triplets, dpo, dpo-chat, openai-preference, sft, demos/);
  // Forgetting a matter: gone from exports, fold-back and the log's meaning, for good.
  const { forgotten } = await e.forgetMatter('globex');
  assert.equal(forgotten, 1);
  assert.equal(lines(e.export('sft')).length, 1);
  assert.ok(!e.export('triplets').includes(globexText));
  assert.ok(!e.export('dpo').includes(globexText));
  assert.deepEqual(e.feedbackInfo().forgottenMatters, ['globex']);
  // A late retry of the forgotten record stays forgotten: refused, not dropped unseen.
  const entries = (await storedEntries(storage)).length;
  await assert.rejects(e.feedback({ traceId: globex.traceId, rating: 'up', consentToTrain: true, recordId: rG.recordId }),
    (err) => err.code === 'Failed precondition' && /was forgotten/.test(err.message));
  // So is new feedback on a question of the forgotten matter.
  await assert.rejects(e.feedback({ traceId: globex.traceId, rating: 'up' }),
    (err) => err.code === 'Failed precondition' && /'globex' was forgotten/.test(err.message));
  assert.equal((await storedEntries(storage)).length, entries, 'nothing was written');
  assert.ok(!e.feedbackRecords().some((x) => x.recordId === rG.recordId));
  storage.close();
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  const f = await createEngine({ storage: again, name: 'matter-1' });
  assert.equal(lines(f.export('sft')).length, 1, 'still forgotten after a reload');
  assert.deepEqual(f.feedbackRecords().map((x) => x.matter).sort(), ['acme', 'acme', 'acme']);
  await f.forgetRecord(rA.recordId);
  assert.equal(f.export('sft'), '');
  await assert.rejects(f.forgetRecord(rA.recordId), /no feedback record/);
  await assert.rejects(f.forgetMatter(''), /needs a matter/);
  again.close();
});

test('ask and feedback behind walls: labels for walled passages are refused', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const open = await e.ask('termination notice agreement', { hops: 1, depth: 20, topK: 20, mode: 'bm25' });
  const globexChunk = open.passages.find((p) => p.matter === 'globex');
  assert.ok(globexChunk, 'the corpus has a globex passage for this question');
  const walled = await e.ask('termination notice agreement', { hops: 2, depth: 10, topK: 10, mode: 'bm25', allowedMatters: ['acme'] });
  for (const h of walled.trace.hops) for (const p of h.results) assert.notEqual(p.matter, 'globex');
  // The trace remembers its walls: a label for a passage behind them is unknown to this user.
  await assert.rejects(e.feedback({ traceId: walled.traceId, labels: { [globexChunk.chunkId]: 'relevant' } }),
    (err) => err.code === 'Not found' && /unknown chunk/.test(err.message));
  // The user's own wall applies on top of the question's.
  await assert.rejects(e.feedback({ traceId: walled.traceId, rating: 'up', allowedMatters: ['globex'] }),
    (err) => err.code === 'Permission denied' && /ethical wall/.test(err.message));
  const rec = await e.feedback({ traceId: walled.traceId, labels: { [walled.passages[0].chunkId]: 'relevant' } });
  assert.equal(rec.matter, 'acme', 'asked behind a wall around one matter');
  e.dispose();
});

test('a damaged stored log is repaired on load, the damaged bytes kept aside', async () => {
  const { factory, storage } = await fresh();
  const e = await engineWith(storage);
  const r = await e.ask('exclusivity', { hops: 1, mode: 'bm25' });
  for (const rating of ['up', 'down', '3']) await e.feedback({ traceId: r.traceId, rating });
  storage.close();
  // Flip a byte inside the second entry.
  const s2 = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  await new Promise((res, rej) => {
    const tx = s2._db.transaction('feedback', 'readwrite');
    const st = tx.objectStore('feedback');
    const q = st.openCursor();
    let n = 0;
    q.onsuccess = () => {
      const c = q.result;
      if (!c) return;
      if (++n === 2) {
        const v = c.value;
        v.record = v.record.slice();
        v.record[20] ^= 0xff;
        c.update(v);
      }
      c.continue();
    };
    tx.oncomplete = res;
    tx.onerror = () => rej(tx.error);
  });
  const f = await createEngine({ storage: s2, name: 'matter-1' });
  const info = f.feedbackInfo();
  assert.ok(info.damage.length > 0 || info.tornTailBytes > 0, 'the damage is reported');
  assert.equal(info.repaired, true);
  assert.ok(info.records >= 1, 'undamaged records are recovered');
  const kept = await s2.listItems('foldback.feedback.damaged/');
  assert.equal(kept.length, 1, 'the damaged bytes are kept aside');
  await f.feedback({ traceId: r.traceId, rating: 'up', critique: 'after repair' });
  s2.close();
  const s3 = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'fb' });
  const g = await createEngine({ storage: s3, name: 'matter-1' });
  assert.deepEqual(g.feedbackInfo().damage, [], 'the repaired log reads cleanly');
  assert.ok(g.feedbackRecords().some((x) => x.critique === 'after repair'));
  s3.close();
});

test('without storage: feedback lives in memory, save() says what it needs', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs.slice(0, 4));
  const r = await e.ask('agreement', { hops: 1, mode: 'bm25' });
  await e.feedback({ traceId: r.traceId, rating: 'up' });
  assert.equal(e.feedbackRecords().length, 1);
  assert.ok(e.feedbackLog().length > 0);
  await assert.rejects(e.save(), /needs an engine created with \{storage\}/);
  await assert.rejects(createEngine({ storage: {} }), /openStorage/);
  e.dispose();
});

test('forgetting a matter drops the embedder its labels trained, in storage too', async () => {
  const { factory, storage } = await fresh('forget-embedder');
  const e = await createEngine({ storage, name: 'm', user: 'u-7' });
  e.add(docs);
  e.buildDense();
  await e.save();
  for (const q of ['termination upon written notice', 'governing law of the state']) {
    const r = await e.ask(q, { hops: 1, depth: 5, topK: 5, rewrite: 'none', mode: 'bm25', allowedMatters: ['acme'] });
    assert.ok(r.passages.length >= 2);
    await e.feedback({ traceId: r.traceId, labels: { [r.passages[0].chunkId]: 'relevant', [r.passages[1].chunkId]: 'not_relevant' }, consentToTrain: true });
  }
  await e.train({ sources: 'feedback', shareableMatters: ['acme'] });
  assert.deepEqual(e.embedderInfo().feedbackMatters, ['acme']);
  await e.save();
  const forgot = await e.forgetMatter('acme');
  assert.equal(forgot.forgotten, 2);
  assert.match(forgot.embedder, /restored/);
  storage.close();
  // A new page: the stored snapshot no longer holds the model.
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'forget-embedder' });
  const f = await createEngine({ storage: again, name: 'm' });
  assert.deepEqual(f.embedderInfo().feedbackMatters, []);
  assert.equal(f.embedderInfo().training, 'ppmi-svd');
  assert.equal(f.feedbackRecords().length, 0);
  again.close();
});

test('a snapshot saved before a matter\'s tombstone: the next page drops what the matter taught', async () => {
  const { factory, storage } = await fresh('forget-crash');
  const e = await createEngine({ storage, name: 'm' });
  e.add(docs);
  e.buildDense();
  for (const q of ['termination upon written notice', 'governing law of the state']) {
    const r = await e.ask(q, { hops: 1, depth: 5, topK: 5, rewrite: 'none', mode: 'bm25', allowedMatters: ['acme'] });
    await e.feedback({ traceId: r.traceId, labels: { [r.passages[0].chunkId]: 'relevant', [r.passages[1].chunkId]: 'not_relevant' }, consentToTrain: true });
  }
  await e.train({ sources: 'feedback', shareableMatters: ['acme'] });
  await e.save();
  const trained = e.snapshot();
  assert.match((await e.forgetMatter('acme')).embedder, /restored/);
  // The page went away after the tombstone and before the snapshot's save.
  await storage.saveSnapshot('m', trained);
  storage.close();
  const again = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'forget-crash' });
  const f = await createEngine({ storage: again, name: 'm' });
  assert.deepEqual(f.embedderInfo().feedbackMatters, [], 'the log\'s tombstone applied at open');
  assert.equal(f.embedderInfo().training, 'ppmi-svd');
  again.close();
  // And saved: a third page loads the repaired snapshot as it is.
  const third = await openStorage({ indexedDB: factory, IDBKeyRange, name: 'forget-crash' });
  const g = await createEngine({ storage: third, name: 'm' });
  assert.deepEqual(g.embedderInfo().feedbackMatters, []);
  third.close();
});
