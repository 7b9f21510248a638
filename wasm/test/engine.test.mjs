// The wasm package from Node: load, index, search, walls, snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const { createEngine, version, FoldbackError } = await import(pkg);

const docs = [
  { id: 'a', title: 'Supply', text: 'The Supplier shall indemnify the Customer against third party claims.', matter: 'm1' },
  { id: 'b', title: 'Law', text: 'This Agreement is governed by the laws of New York.', matter: 'm2' },
  { id: 'c', text: 'Either party may terminate for convenience.', metadata: { jurisdiction: 'Delaware' } },
];

test('version matches the package', async () => {
  // The core's version (CMake's project version) and the npm package's.
  const manifest = JSON.parse(await readFile(path.join(path.dirname(pkg), 'package.json'), 'utf8'));
  assert.match(await version(), /^\d+\.\d+\.\d+$/);
  assert.equal(await version(), manifest.version);
});

test('add and search', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  const reports = e.add(docs);
  assert.equal(reports.length, 3);
  assert.ok(reports[0].chunks >= 1);
  const hits = e.search('indemnify claims', { topK: 5, mode: 'bm25' });
  assert.equal(hits[0].docId, 'a');
  assert.ok(hits[0].score > 0);
  assert.match(hits[0].text, /indemnify/);
  assert.equal(e.stats().documents, 3);
  e.dispose();
});

// As `foldback delete`, fb_index_remove and DELETE /v1/documents/{id}: a
// message goes with its attachments (and theirs); a sibling stays.
test('remove takes a document with its attachments', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add([
    { id: 'mail', text: 'Please find the escrow terms attached.', matter: 'm1' },
    { id: 'mail/att-1', text: 'Escrow release conditions.', matter: 'm1', parentId: 'mail' },
    { id: 'mail/att-1/att-1', text: 'Escrow agent fee schedule.', matter: 'm1', parentId: 'mail/att-1' },
    { id: 'other', text: 'Escrow of the source code.', matter: 'm1' },
  ]);
  assert.deepEqual(e.remove('mail'), ['mail', 'mail/att-1', 'mail/att-1/att-1']);
  assert.deepEqual(e.search('escrow', { mode: 'bm25' }).map((h) => h.docId), ['other']);
  assert.equal(e.stats().documents, 1);
  assert.throws(() => e.remove('mail'), (err) => err instanceof FoldbackError && err.code === 'Not found');
  e.dispose();
});

test('ethical walls and filters', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const walled = e.search('indemnify governed terminate agreement', { mode: 'bm25', allowedMatters: ['m2'] });
  assert.ok(walled.length > 0);
  for (const h of walled) assert.notEqual(h.matter, 'm1');
  const filtered = e.search('terminate', { mode: 'bm25', filter: { jurisdiction: 'Delaware' } });
  assert.deepEqual(filtered.map((h) => h.docId), ['c']);
  assert.throws(() => e.search('x', { filter: { colour: 'blue' } }), (err) => {
    assert.ok(err instanceof FoldbackError);
    assert.equal(err.code, 'Invalid argument');
    assert.match(err.message, /colour/);
    return true;
  });
  e.dispose();
});

// engine.search packs plain options into one string and reads the hits
// from the module's memory, ASCII fields apart from the others; options of
// other kinds (here `candidates`, at its default depth, and a NUL in a
// filter value) take the object path. Both give the same hits, fields and
// errors, whatever the text holds.
test('packed and object options give the same hits and errors', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add([
    { id: 'q1', title: 'Café “Ω” 😀', text: 'The “Receiving Party” shall keep the Naïve 😀 data secret.', matter: 'mé', metadata: { scope: 's1' } },
    { id: 'q2', title: 'Plain', text: 'The Receiving Party shall return the data.', matter: 'm2', metadata: { scope: 's1' } },
    { id: 'q3', text: 'Receiving Party duties under \u{1F600} clause ∑.', metadata: { scope: 's2' } },
  ]);
  const cases = [
    { mode: 'bm25', topK: 10 },
    { mode: 'bm25', topK: 10, filter: { scope: 's1' }, oneDocument: true },
    { mode: 'bm25', allowedMatters: ['mé'], useFeedback: false },
    { mode: 'bm25', allowedMatters: [] },
    { mode: 'bm25', filter: { scope: 'none' } },
  ];
  for (const o of cases) {
    const packed = e.search('receiving party data', o);
    const object = e.search('receiving party data', { ...o, candidates: 100 });
    assert.deepEqual(packed, object, JSON.stringify(o));
  }
  // engine.search writes packed options into the module's input buffer
  // (the fb_js_* exports): a non-ASCII query, one longer than any before
  // (the buffer grows), the feedback path, and a lone surrogate in a filter
  // value (embind's path) give what the object path gives.
  for (const q of ['naïve “receiving party” 😀 data', 'receiving party data '.repeat(3000)]) {
    for (const o of [{ mode: 'bm25', filter: { scope: 's1' }, useFeedback: false }, { mode: 'bm25' },
      { mode: 'bm25', filter: { scope: 's1\uD800' } }]) {
      assert.deepEqual(e.search(q, o), e.search(q, { ...o, candidates: 100 }), `${q.slice(0, 40)} ${JSON.stringify(o)}`);
    }
  }
  assert.ok(e.search('naïve', { mode: 'bm25', useFeedback: false }).some((h) => h.docId === 'q1'));
  const all = e.search('receiving party data', { mode: 'bm25' });
  const q1 = all.find((h) => h.docId === 'q1');
  assert.equal(q1.title, 'Café “Ω” 😀');
  assert.equal(q1.matter, 'mé');
  assert.equal(q1.text, 'The “Receiving Party” shall keep the Naïve 😀 data secret.');
  assert.deepEqual(all.map((h) => h.docId).sort(), ['q1', 'q2', 'q3']);
  assert.deepEqual(e.search('receiving', { mode: 'bm25', filter: { scope: 's\0' } }), []);
  for (const bad of [{ mode: 'fast' }, { fusion: 'max' }, { syntax: 'regex' }, { filter: { colour: 'blue' } }]) {
    const message = (o) => {
      try {
        e.search('data', o);
      } catch (err) {
        assert.ok(err instanceof FoldbackError);
        return `${err.code}: ${err.message}`;
      }
      return 'no error';
    };
    assert.notEqual(message(bad), 'no error');
    assert.equal(message(bad), message({ ...bad, candidates: 100 }));
  }
  e.dispose();
});

// Options a side's last search was given are not written again: the module
// reads the ones it kept. Each side (the index's, the feedback path) keeps
// its own, embind's path (a lone surrogate) and an error replace or drop
// them, and every search still gives what the object path gives.
test('options repeated from the last search', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add([
    { id: 'r1', text: 'The Receiving Party shall keep the data secret.', metadata: { scope: 's1' } },
    { id: 'r2', text: 'The Receiving Party shall return the data.', matter: 'm2', metadata: { scope: 's2' } },
  ]);
  const s1 = { mode: 'bm25', filter: { scope: 's1' } };
  const s2 = { mode: 'bm25', filter: { scope: 's2' } };
  const index = (o) => ({ ...o, useFeedback: false });
  const expect = (o, docs, what) => {
    const hits = e.search('receiving party data', o);
    assert.deepEqual(hits.map((h) => h.docId), docs, what);
    assert.deepEqual(hits, e.search('receiving party data', { ...o, candidates: 100 }), what);
  };
  expect(index(s1), ['r1'], 'index, s1');
  expect(s1, ['r1'], 'feedback path, s1: its first options');
  expect(index(s1), ['r1'], 'index, s1 again');
  expect(s2, ['r2'], 'feedback path, s2');
  expect(index(s1), ['r1'], 'index, s1 a third time');
  expect(s2, ['r2'], 'feedback path, s2 again');
  expect({ mode: 'bm25', filter: { scope: 's2\uD800' } }, [], 'embind path');
  expect(s2, ['r2'], 'feedback path, s2 after the embind path');
  const error = (o) => {
    try {
      e.search('data', o);
    } catch (err) {
      assert.ok(err instanceof FoldbackError);
      return err.message;
    }
    return 'no error';
  };
  const bad = { mode: 'fast', filter: { scope: 's2' } };
  const first = error(bad);
  assert.match(first, /mode must be/);
  assert.equal(error(bad), first, 'the same bad options, the same error');
  expect(s2, ['r2'], 'feedback path, s2 after an error');
  assert.throws(() => e.search('data', index({ mode: 'fast' })), FoldbackError);
  expect(index(s1), ['r1'], 'index, s1 after an error');
  // Options equal part by part to the last ones are not even packed: values
  // that differ in one part only, or keys in another order, are sent again.
  const all = (o) => index({ mode: 'bm25', ...o });
  expect(all({ topK: 1 }), ['r2'], 'index, top 1');
  expect(all({ topK: 2 }), ['r2', 'r1'], 'index, top 2: the same parts but one');
  expect(all({ topK: 1 }), ['r2'], 'index, top 1 again');
  expect(index({ filter: { scope: 's2' }, mode: 'bm25' }), ['r2'], 'index, s2, keys in another order');
  expect(index(s1), ['r1'], 'index, s1 after s2');
  expect(index({ ...s1, oneDocument: true }), ['r1'], 'index, s1, one per document');
  expect(all({ filter: { scope: 's2' }, allowedMatters: ['m'] }), [], 'index, s2 behind a wall');
  expect(all({ filter: { scope: 's2' }, allowedMatters: ['m2'] }), ['r2'], 'index, s2, its matter allowed');
  // Own keys only, on both paths: a filter a prototype carries is not read.
  const inherited = Object.assign(Object.create({ filter: { scope: 's1' } }), { mode: 'bm25', useFeedback: false });
  assert.deepEqual(e.search('receiving party data', inherited).map((h) => h.docId), ['r2', 'r1'], 'inherited filter');
  e.dispose();
});

// A hit engine.search has returned before crosses the second time as a
// slot, its fields kept in JS (HitBuffers::EncodeBlock): after an update,
// a delete or much text seen, every hit still carries what the index
// holds now — as the object path gives it — on both sides (the index's and
// the feedback path).
test('hits seen before carry the index as it is now', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add([
    { id: 'n1', title: 'NDA one', text: 'The Receiving Party shall keep the data secret.', metadata: { scope: 's' } },
    { id: 'n2', title: 'NDA two', text: 'The Receiving Party shall return the data.', metadata: { scope: 's' } },
  ]);
  const sides = [{ mode: 'bm25', filter: { scope: 's' }, useFeedback: false }, { mode: 'bm25', filter: { scope: 's' } }];
  const same = (q, what) => {
    for (const o of sides) {
      const hits = e.search(q, o);
      assert.deepEqual(hits, e.search(q, { ...o, candidates: 100 }), `${what} ${JSON.stringify(o)}`);
      assert.deepEqual(e.search(q, o), hits, `${what}, again`);
    }
    return e.search(q, sides[0]);
  };
  assert.equal(same('receiving party data', 'first').length, 2);
  // A chunk id names its text, not its document's title or matter: the
  // same id comes back with a new title.
  e.add({ id: 'n1', title: 'NDA one, renamed', text: 'The Receiving Party shall keep the data secret.', matter: 'm9', metadata: { scope: 's' } });
  const renamed = same('receiving party data', 'after a new title').find((h) => h.docId === 'n1');
  assert.deepEqual([renamed.title, renamed.matter], ['NDA one, renamed', 'm9']);
  e.add({ id: 'n1', title: 'NDA one, amended', text: 'The Receiving Party shall destroy the data “at once”.', metadata: { scope: 's' } });
  const updated = same('receiving party data', 'after an update').find((h) => h.docId === 'n1');
  assert.equal(updated.title, 'NDA one, amended');
  assert.equal(updated.text, 'The Receiving Party shall destroy the data “at once”.');
  e.remove('n2');
  assert.deepEqual(same('receiving party data', 'after a delete').map((h) => h.docId), ['n1']);
  same('receiving party data', 'again');
  e.dispose();
});

// The same when more text has been seen than the module lets JS keep
// (1 MiB): it starts again.
test('hits seen before, past what JS keeps', async () => {
  const big = await createEngine({ index: { embedder: 'none' } });
  const long = (i) => `Matter ${i} `.repeat(65000);  // 2 x 585 KB
  big.add([0, 1].map((i) => ({ id: `big${i}`, matter: long(i), text: `Receiving Party schedule ${i}.` })));
  for (const i of [0, 1, 0, 1, 1, 0]) {
    const [h] = big.search(`schedule ${i}`, { mode: 'bm25', topK: 1, useFeedback: false });
    assert.equal(h.docId, `big${i}`);
    assert.ok(h.matter === long(i), `big${i}'s matter`);
  }
  big.dispose();
});

test('snapshot round trip, and damaged bytes are refused', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add(docs);
  const bytes = e.snapshot();
  assert.ok(bytes instanceof Uint8Array);
  const f = await createEngine({ snapshot: bytes });
  assert.deepEqual(
    f.search('governed laws', { mode: 'bm25' }).map((h) => h.chunkId),
    e.search('governed laws', { mode: 'bm25' }).map((h) => h.chunkId));
  await assert.rejects(createEngine({ snapshot: bytes.slice(0, bytes.length - 5) }), /Corruption/);
  e.dispose();
  f.dispose();
});

test('the bundled demo corpus indexes in wasm', async () => {
  const dir = path.join(root, 'examples/corpus/cuad');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.txt'));
  const e = await createEngine();
  for (const f of files) e.add({ id: f.replace(/\.txt$/, ''), text: await readFile(path.join(dir, f), 'utf8') });
  e.buildDense();
  const s = e.stats();
  assert.equal(s.documents, files.length);
  assert.equal(s.vectors, s.chunks);
  const hybrid = e.search('governing law of the state', { mode: 'hybrid', topK: 5 });
  assert.equal(hybrid.length, 5);
  assert.ok(hybrid.some((h) => h.dense > 0));
  e.dispose();
});
