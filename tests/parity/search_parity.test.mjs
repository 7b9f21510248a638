// Cross-host parity of search and delete: the same queries through every
// host must return the same hits (chunk, document, matter, score to 1e-9),
// and deleting a message must take the same documents (its attachments)
// away everywhere.
//
//   node tests/parity/search_parity.test.mjs      (ctest: parity.search)
//
// Hosts: cli (`foldback search --json`, `foldback delete`), c (the C API
// from C: tests/parity/parity_c_driver.c search|delete), js (the npm package
// in this Node process, on the CLI's snapshot: engine.search, engine.remove)
// and serve (`foldback serve`: GET /v1/search with a bearer token whose
// user's matters are the wall, DELETE /v1/documents/{id}).
//
// The index: 21 bundled CUAD contracts (examples/corpus/cuad, CC BY 4.0) in
// matters `alpha` and `beta`, and generated mail in `mail` (a message with
// a text attachment, a reply); hybrid search uses the trained static
// embedder, the same bytes in every host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const env = process.env;
const CLI = env.FOLDBACK_CLI || path.join(root, 'build/bin/foldback');
const C_DRIVER = env.FOLDBACK_PARITY_C_DRIVER || path.join(root, 'build/bin/parity_c_driver');
const WASM_PKG = env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');

for (const [what, p] of [['the CLI', CLI], ['the C driver', C_DRIVER], ['the wasm package', WASM_PKG]]) {
  if (!existsSync(p)) {
    console.log(`# SKIP: ${what} is not built (${p})`);
    process.exit(77);
  }
}
const { createEngine } = await import(WASM_PKG);

const WALLS = { all: null, alpha: ['alpha'], mail: ['mail'], alphaMail: ['alpha', 'mail'] };
const TOKENS = Object.fromEntries(Object.keys(WALLS).map((w) => [w, `fb-parity-${w}-0c1d2e3f`]));

const MAIL = {
  'escrow.eml': [
    'From: Ana Ortiz <ana@acme.example>', 'To: Ben Wu <ben@acme.example>',
    'Subject: Escrow release conditions for the Kestrel deal', 'Date: Tue, 3 Mar 2026 09:00:00 +0000',
    'Message-ID: <escrow-1@acme.example>', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '',
    'Ben, the escrow terms for Kestrel are attached. The escrow agent releases funds on the closing certificate.',
    '--b1', 'Content-Type: text/plain; charset=utf-8', 'Content-Disposition: attachment; filename="escrow-terms.txt"', '',
    'Escrow Terms. The escrow agent shall hold the purchase price holdback for eighteen months and release it on a joint written instruction.',
    '--b1--', ''],
  'reply.eml': [
    'From: Ben Wu <ben@acme.example>', 'To: Ana Ortiz <ana@acme.example>',
    'Subject: Re: Escrow release conditions for the Kestrel deal', 'Date: Tue, 3 Mar 2026 11:00:00 +0000',
    'Message-ID: <escrow-2@acme.example>', 'In-Reply-To: <escrow-1@acme.example>', '',
    'Thanks Ana. Eighteen months is longer than the seller wanted; can the holdback step down after twelve?', ''],
};

// Each case: a query, options, and the wall. Every case runs on every host.
const CASES = [
  { name: 'bm25', q: 'termination for convenience written notice', mode: 'bm25' },
  { name: 'hybrid (default mode)', q: 'who may terminate the agreement and with how much notice' },
  { name: 'dense', q: 'limitation of liability for indirect damages', mode: 'dense' },
  { name: 'known item: a subject, default mode', q: 'Escrow release conditions for the Kestrel deal' },
  { name: 'walled to alpha', q: 'indemnify third party claims', mode: 'bm25', wall: 'alpha' },
  { name: 'walled to mail, hybrid', q: 'escrow holdback release', wall: 'mail' },
  { name: 'phrase', q: '"governing law"', mode: 'bm25' },
  { name: 'prefix and proximity', q: 'terminat* /10 notice', mode: 'bm25', syntax: 'connectors' },
  { name: 'sentence connector, walled', q: 'confidential /s disclose', mode: 'bm25', wall: 'alphaMail' },
  { name: 'plain syntax reads quotes as text', q: '"governing law" state*', mode: 'bm25', syntax: 'plain' },
  { name: 'top 3', q: 'insurance coverage', mode: 'hybrid', topK: 3 },
  { name: 'filter to one contract', q: 'term renewal', mode: 'bm25', filterFirstAlpha: true },
];

let work;
let base;          // the index every host copies
let alphaFirst;    // a document id of matter alpha, for the filter case
let server;
const jsEngines = new Map();  // index folder -> engine

function spawnServe(dir) {
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, ['serve', '--index', dir, '--users', path.join(work, 'users.toml'),
      '--listen', '127.0.0.1:0', '--rate-limit', '0', '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
      if (m) resolve({ proc: p, url: m[1], stop: () => new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); }) });
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', (code) => reject(new Error(`foldback serve exited ${code}: ${out}`)));
  });
}

async function copyIndex(name) {
  const dir = path.join(work, 'runs', name);
  await rm(dir, { recursive: true, force: true });
  await cp(base, dir, { recursive: true });
  return dir;
}

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'foldback-search-parity-'));
  base = path.join(work, 'index');
  const contracts = (await readdir(path.join(root, 'examples/corpus/cuad'))).filter((f) => f.endsWith('.txt')).sort();
  const half = Math.ceil(contracts.length / 2);
  for (const [matter, files] of [['alpha', contracts.slice(0, half)], ['beta', contracts.slice(half)]]) {
    const dir = path.join(work, 'corpus', matter);
    await mkdir(dir, { recursive: true });
    for (const f of files) await cp(path.join(root, 'examples/corpus/cuad', f), path.join(dir, f));
    await run(CLI, ['ingest', '--index', base, '--matter', matter, dir]);
  }
  alphaFirst = contracts[0].replace(/\.txt$/, '');
  const mailDir = path.join(work, 'corpus', 'mail');
  await mkdir(mailDir, { recursive: true });
  for (const [f, lines] of Object.entries(MAIL)) await writeFile(path.join(mailDir, f), lines.join('\r\n'));
  await run(CLI, ['ingest', '--index', base, '--matter', 'mail', mailDir]);
  const sha = (t) => createHash('sha256').update(t).digest('hex');
  await writeFile(path.join(work, 'users.toml'), Object.entries(WALLS).map(([w, m]) =>
    `[[user]]\nname = "${w}"\ntoken_sha256 = "${sha(TOKENS[w])}"\nmatters = ${JSON.stringify(m || ['*'])}\nwrite = ${JSON.stringify(m || ['*'])}\n`).join('\n'));
  server = await spawnServe(await copyIndex('serve-search'));
});

after(async () => {
  for (const e of jsEngines.values()) e.dispose();
  if (server) await server.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const norm = (hits) => hits.map((h) => ({ chunk: h.chunk_id ?? h.chunkId, doc: h.doc_id ?? h.docId, matter: h.matter, score: Number(h.score).toFixed(9) }));

// One case through one host: {hits} or {error}.
const HOSTS = {
  async cli(c, dir) {
    const args = ['search', '--index', dir, '--json', '--top-k', String(c.topK || 10)];
    if (c.mode) args.push('--mode', c.mode);
    if (c.syntax) args.push('--syntax', c.syntax);
    if (WALLS[c.wall || 'all']) args.push('--allowed-matters', WALLS[c.wall].join(','));
    if (c.filterFirstAlpha) args.push('--filter', `id=${alphaFirst}`);
    const { stdout } = await run(CLI, [...args, c.q], { maxBuffer: 1 << 26 });
    return { hits: norm(JSON.parse(stdout)) };
  },
  async c(c, dir) {
    const args = ['search', dir, '--query', c.q, '--top-k', String(c.topK || 10), '--mode', c.mode || 'hybrid'];
    if (c.syntax) args.push('--syntax', c.syntax);
    if (WALLS[c.wall || 'all']) args.push('--allowed-matters', WALLS[c.wall].join(','));
    if (c.filterFirstAlpha) args.push('--filter', `id=${alphaFirst}`);
    const { stdout } = await run(C_DRIVER, args, { maxBuffer: 1 << 26 });
    const r = JSON.parse(stdout);
    return r.ok ? { hits: norm(r.hits) } : { error: r.error };
  },
  async js(c, dir) {
    // One engine per index folder (loading the snapshot is not what is compared).
    if (!jsEngines.has(dir)) jsEngines.set(dir, await createEngine({ snapshot: await readFile(path.join(dir, 'index.fbsnap')) }));
    const e = jsEngines.get(dir);
    const o = { topK: c.topK || 10, mode: c.mode || 'hybrid', useFeedback: false };
    if (c.syntax) o.syntax = c.syntax;
    if (WALLS[c.wall || 'all']) o.allowedMatters = WALLS[c.wall];
    if (c.filterFirstAlpha) o.filter = { id: alphaFirst };
    return { hits: norm(await e.search(c.q, o)) };
  },
  async serve(c) {
    const p = new URLSearchParams({ q: c.q, top_k: String(c.topK || 10), mode: c.mode || 'hybrid', feedback: 'false' });
    if (c.syntax) p.set('syntax', c.syntax);
    if (c.filterFirstAlpha) p.append('filter', `id=${alphaFirst}`);
    const r = await fetch(`${server.url}/v1/search?${p}`, { headers: { authorization: `Bearer ${TOKENS[c.wall || 'all']}` } });
    const body = await r.json();
    return r.ok ? { hits: norm(body.results) } : { error: body.error?.message };
  },
};

test('every host returns the same hits for the same search', async () => {
  const dir = await copyIndex('search');
  for (const c of CASES) {
    const got = {};
    for (const [name, host] of Object.entries(HOSTS)) got[name] = await host(c, dir);
    assert.ok(got.cli.hits && got.cli.hits.length > 0, `${c.name}: the CLI found nothing (${JSON.stringify(got.cli)})`);
    if (c.wall) {
      for (const h of got.cli.hits) assert.ok(WALLS[c.wall].includes(h.matter), `${c.name}: ${h.doc} is behind the wall`);
    }
    for (const name of Object.keys(HOSTS)) {
      assert.deepEqual(got[name], got.cli, `${c.name}: ${name} differs from the CLI`);
    }
  }
  // The known item is the message itself, first, in the default mode.
  const known = await HOSTS.cli(CASES.find((c) => c.name.startsWith('known item')), dir);
  assert.equal(known.hits[0].doc, 'escrow');
});

test('deleting a message takes its attachment away in every host', async () => {
  const escrowHits = (hits) => hits.filter((h) => h.doc.startsWith('escrow')).map((h) => h.doc).sort();
  const probe = { q: 'escrow agent holdback release', mode: 'bm25', topK: 20 };
  const before = escrowHits((await HOSTS.cli(probe, base)).hits);
  assert.ok(before.length >= 2 && before.some((d) => d !== 'escrow'), `the message and its attachment are found: ${before}`);

  const after = {};
  let dir = await copyIndex('delete-cli');
  await run(CLI, ['delete', '--index', dir, 'escrow']);
  after.cli = (await HOSTS.cli(probe, dir)).hits;
  dir = await copyIndex('delete-c');
  assert.equal(JSON.parse((await run(C_DRIVER, ['delete', dir, 'escrow'])).stdout).ok, true);
  after.c = (await HOSTS.c(probe, dir)).hits;
  dir = await copyIndex('delete-js');
  const e = await createEngine({ snapshot: await readFile(path.join(dir, 'index.fbsnap')) });
  const removed = e.remove('escrow');
  after.js = norm(e.search(probe.q, { mode: 'bm25', topK: 20, useFeedback: false }));
  e.dispose();
  const srv = await spawnServe(await copyIndex('delete-serve'));
  try {
    const r = await fetch(`${srv.url}/v1/documents/escrow`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKENS.mail}` } });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.deepEqual([body.deleted, ...body.attachments].sort(), [...removed].sort(), 'serve and JS removed the same documents');
    const q = new URLSearchParams({ q: probe.q, mode: 'bm25', top_k: '20', feedback: 'false' });
    after.serve = norm((await (await fetch(`${srv.url}/v1/search?${q}`, { headers: { authorization: `Bearer ${TOKENS.all}` } })).json()).results);
  } finally {
    await srv.stop();
  }
  assert.deepEqual(removed.sort(), before.filter((d) => d === 'escrow' || d.startsWith('escrow/')).sort());
  assert.ok(removed.length >= 2, `the attachment went with the message: ${removed}`);
  for (const name of Object.keys(after)) {
    assert.deepEqual(escrowHits(after[name]), [], `${name}: the message or its attachment is still found`);
    assert.deepEqual(after[name], after.cli, `${name}: results after the delete differ from the CLI's`);
  }
});
