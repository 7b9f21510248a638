// IT's policy (shared/policy.ts): parsing what managed storage or the
// served foldback-settings.json holds, THE decision every plugin makes with
// it (endpoint allow-list, wall, redaction), defaults, the served file over
// real loopback HTTP, and the engine adapter enforcing it on the real wasm
// package — a user's wider wall or other endpoint does not get through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { PLUGINS, WASM_PKG, loadTs } from './helpers/common.mjs';
import { startLlmServer } from './helpers/llm-server.mjs';

const P = await loadTs('shared/policy.ts');
const BUILD = ['http://127.0.0.1:*', 'http://localhost:*', 'https://api.openai.com'];

test('parsePolicy: a valid policy', () => {
  const { policy, problems } = P.parsePolicy({
    allowedEndpoints: ['https://api.openai.com/', 'http://localhost:*'],
    defaultEndpoint: 'https://api.openai.com/v1', defaultModel: 'gpt-4o-mini',
    allowedMatters: ['acme', ' beta '], redactPatterns: ['\\b\\d{3}-\\d{2}-\\d{4}\\b'],
  }, 'test');
  assert.deepEqual(problems, []);
  assert.deepEqual(policy.allowedEndpoints, ['https://api.openai.com', 'http://localhost:*']);
  assert.deepEqual(policy.allowedMatters, ['acme', 'beta']);
  assert.equal(policy.defaultModel, 'gpt-4o-mini');
  assert.deepEqual(P.parsePolicy(undefined, 'x'), { policy: {}, problems: [] }, 'no policy');
  assert.deepEqual(P.parsePolicy({}, 'x'), { policy: {}, problems: [] }, 'empty managed storage');
});

test('parsePolicy: bad input is a problem, a key is refused and never repeated', () => {
  const secret = 'sk-policy-canary-0123';
  const r = P.parsePolicy({
    apiKey: secret, allowedMatter: ['typo'], allowedMatters: 'acme', allowedEndpoints: ['ftp://x', 'https://ok.example'],
    defaultModel: 3,
  }, 'foldback-settings.json');
  const text = r.problems.join('\n');
  assert.equal(r.problems.length, 5, text);
  assert.match(text, /'apiKey': a policy never holds a key/);
  assert.match(text, /unknown key 'allowedMatter'/);
  assert.match(text, /'allowedMatters' must be an array of strings/);
  assert.match(text, /ftp:\/\/x/);
  assert.match(text, /'defaultModel' must be a string/);
  assert.ok(!text.includes(secret), 'the key is not repeated');
  assert.match(P.parsePolicy([], 's').problems[0], /must be a JSON object/);
  assert.match(P.parsePolicy({ allowedEndpoints: ['https://a.example'], defaultEndpoint: 'https://b.example/v1' }, 's').problems[0],
    /'defaultEndpoint' is not in 'allowedEndpoints'/);
});

test('enforcePolicy: the policy narrows the endpoints; a user cannot widen them', () => {
  const policy = { allowedEndpoints: ['https://api.openai.com'] };
  assert.equal(P.enforcePolicy(policy, BUILD, { endpoint: 'https://api.openai.com/v1' }).endpointAllowed, true);
  const local = P.enforcePolicy(policy, BUILD, { endpoint: 'http://localhost:11434/v1' });
  assert.equal(local.endpointAllowed, false, 'in the build list, not in the policy');
  assert.match(local.reason, /your firm's policy/);
  // A policy cannot allow what the build (the CSP) does not.
  const wide = P.enforcePolicy({ allowedEndpoints: ['https://llm.evil.example'] }, BUILD, { endpoint: 'https://llm.evil.example/v1' });
  assert.equal(wide.endpointAllowed, false);
  assert.match(wide.reason, /this plugin's allowed endpoints/);
  // No policy: the build's list.
  assert.equal(P.enforcePolicy({}, BUILD, { endpoint: 'http://localhost:11434/v1' }).endpointAllowed, true);
  assert.equal(P.enforcePolicy({}, BUILD, {}).endpointAllowed, true, 'no endpoint: nothing to allow');
});

test('enforcePolicy: the wall is the policy\'s, narrowed by the user, never widened', () => {
  const policy = { allowedMatters: ['acme', 'beta'] };
  assert.deepEqual(P.enforcePolicy(policy, BUILD, {}).allowedMatters, ['acme', 'beta'], 'no request: the policy wall');
  assert.deepEqual(P.enforcePolicy(policy, BUILD, { allowedMatters: ['beta', 'gamma'] }).allowedMatters, ['beta'], 'gamma dropped');
  assert.deepEqual(P.enforcePolicy(policy, BUILD, { allowedMatters: ['gamma'] }).allowedMatters, [], 'nothing outside the wall');
  assert.deepEqual(P.enforcePolicy({}, BUILD, { allowedMatters: ['gamma'] }).allowedMatters, ['gamma'], 'no policy: the user\'s');
  assert.equal(P.enforcePolicy({}, BUILD, {}).allowedMatters, undefined, 'no wall at all');
  assert.deepEqual(P.enforcePolicy({ redactPatterns: ['a'] }, BUILD, { redactPatterns: ['b'] }).redactPatterns, ['a', 'b']);
});

test('defaults: the policy fills what the user left empty, and the shown endpoints are the policy\'s', () => {
  const policy = { defaultEndpoint: 'https://api.openai.com/v1', defaultModel: 'gpt-4o-mini', allowedEndpoints: ['https://api.openai.com'] };
  const s = { endpoint: '', model: '', hops: 2, depth: 5, topK: 5, rewrite: 'rm3', answer: true };
  assert.equal(P.withPolicyDefaults(policy, s).endpoint, 'https://api.openai.com/v1');
  assert.equal(P.withPolicyDefaults(policy, s).model, 'gpt-4o-mini');
  assert.equal(P.withPolicyDefaults(policy, { ...s, endpoint: 'http://localhost:1/v1' }).endpoint, 'http://localhost:1/v1', 'the user\'s choice stays (enforcePolicy decides)');
  assert.deepEqual(P.shownOrigins(policy, BUILD), ['https://api.openai.com']);
  assert.deepEqual(P.shownOrigins({}, BUILD), BUILD);
});

test('fetchServedPolicy: the settings file next to the task pane, over loopback HTTP', async () => {
  const files = {
    '/good/foldback-settings.json': JSON.stringify({ allowedMatters: ['acme'] }),
    '/broken/foldback-settings.json': '{ "allowedMatters": [',
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/error/foldback-settings.json') { res.writeHead(500).end(); return; }
    const body = files[req.url];
    if (body === undefined) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.deepEqual(await P.fetchServedPolicy(`${base}/good/foldback-settings.json`), { policy: { allowedMatters: ['acme'] }, problems: [] });
    assert.deepEqual(await P.fetchServedPolicy(`${base}/none/foldback-settings.json`), { policy: {}, problems: [] }, '404: no policy');
    assert.match((await P.fetchServedPolicy(`${base}/broken/foldback-settings.json`)).problems[0], /not valid JSON/, 'fails closed');
    assert.match((await P.fetchServedPolicy(`${base}/error/foldback-settings.json`)).problems[0], /HTTP 500/);
    assert.match((await P.fetchServedPolicy('http://127.0.0.1:9/foldback-settings.json')).problems[0], /could not be fetched/);
  } finally {
    server.close();
  }
});

test('managed_schema.json: a Chrome policy schema for exactly the keys parsePolicy knows', async () => {
  const schema = JSON.parse(await readFile(path.join(PLUGINS, 'browser/managed_schema.json'), 'utf8'));
  assert.equal(schema.type, 'object');
  const keys = Object.keys(schema.properties).sort();
  assert.deepEqual(keys, ['allowedEndpoints', 'allowedMatters', 'defaultEndpoint', 'defaultModel', 'redactPatterns', 'serverUrl']);
  // Every key the schema lets through parses; an example of each type.
  const sample = {};
  for (const [k, v] of Object.entries(schema.properties)) {
    assert.ok(['string', 'array'].includes(v.type), k);
    if (v.type === 'array') assert.equal(v.items.type, 'string', k);
    sample[k] = v.type === 'array' ? (k === 'allowedEndpoints' ? ['https://api.openai.com'] : ['x'])
      : k === 'defaultEndpoint' ? 'https://api.openai.com/v1' : k === 'serverUrl' ? 'https://foldback.firm.example' : 'm';
  }
  assert.deepEqual(P.parsePolicy(sample, 'schema sample').problems, []);
});

test('serverUrl: a policy pins the firm server; a bad one is a problem (fail closed)', () => {
  const ok = P.parsePolicy({ serverUrl: ' https://foldback.firm.example/ ' }, 'managed policy');
  assert.deepEqual(ok, { policy: { serverUrl: 'https://foldback.firm.example' }, problems: [] });
  for (const bad of ['foldback.firm.example', 'ftp://foldback.firm.example', 'https://u:p@foldback.firm.example', 'https://f.example/?token=x', 7]) {
    assert.match(P.parsePolicy({ serverUrl: bad }, 'managed policy').problems[0] ?? '', /'serverUrl' must be the firm server's URL/, String(bad));
  }
  // Pinned: whatever the user saved, the policy's server is used.
  const s = P.withPolicyDefaults(ok.policy, { endpoint: '', model: '', hops: 2, depth: 5, topK: 5, rewrite: 'rm3', answer: true, serverUrl: 'https://other.example' });
  assert.equal(s.serverUrl, 'https://foldback.firm.example');
  assert.equal(P.withPolicyDefaults({}, { ...s, serverUrl: '' }).serverUrl, '', 'no policy: the user chooses (here: this computer)');
});

// ------------------------------------------------------------------ the engine adapter under a policy

let llm;
let A;
let openStorage;
before(async () => {
  llm = await startLlmServer();
  A = await loadTs('shared/engine-adapter.ts');
  ({ openStorage } = await import(path.join(WASM_PKG, 'storage.js')));
});
after(() => llm?.close());

const DOCS = [
  { id: 'a1', title: 'Acme MSA', text: 'The supplier may terminate this agreement on ninety days written notice.', matter: 'acme' },
  { id: 'b1', title: 'Beta MSA', text: 'Either party may terminate this agreement on thirty days written notice.', matter: 'beta' },
];

async function engineWith(policy, problems) {
  const storage = await openStorage({ indexedDB: new IDBFactory(), IDBKeyRange, name: 'policy-test' });
  const e = await A.LocalEngine.open({ storage, allowedOrigins: ['http://127.0.0.1:*'], policy, ...(problems ? { policyProblems: problems } : {}) });
  await e.index(DOCS);
  return e;
}

test('LocalEngine: search and ask stay behind the policy wall whatever the user asks', async () => {
  const e = await engineWith({ allowedMatters: ['acme'] });
  const all = await e.search('terminate notice', { topK: 10 });
  assert.deepEqual([...new Set(all.map((p) => p.matter))], ['acme']);
  const wider = await e.search('terminate notice', { topK: 10, allowedMatters: ['acme', 'beta'] });
  assert.deepEqual([...new Set(wider.map((p) => p.matter))], ['acme'], 'beta asked for, not given');
  const outside = await e.search('terminate notice', { topK: 10, allowedMatters: ['beta'] });
  assert.equal(outside.length, 0);
  const r = await e.ask('terminate notice', { hops: 2, rewrite: 'rm3', allowedMatters: ['beta', 'acme'] }, () => {});
  for (const h of r.hops) for (const p of h.results) assert.equal(p.matter, 'acme');
  for (const p of r.passages) assert.equal(p.matter, 'acme');
  // Without a policy the same engine code searches both.
  const open = await engineWith({});
  assert.deepEqual([...new Set((await open.search('terminate notice', { topK: 10 })).map((p) => p.matter))].sort(), ['acme', 'beta']);
});

test('LocalEngine: an endpoint outside the policy list is refused before any request; redaction applies', async () => {
  const e = await engineWith({ allowedEndpoints: ['http://127.0.0.1:1'], redactPatterns: ['ninety'] });
  llm.requests.length = 0;
  await assert.rejects(e.ask('terminate', { hops: 1, rewrite: 'llm' }, () => {}, { endpoint: llm.endpoint, model: 'm' }),
    /your firm's policy/);
  assert.equal(llm.requests.length, 0, 'nothing sent');
  const port = new URL(llm.endpoint).port;
  e.setPolicy({ allowedEndpoints: [`http://127.0.0.1:${port}`], redactPatterns: ['ninety'] });
  const r = await e.ask('terminate on ninety days notice', { hops: 1, rewrite: 'llm' }, () => {}, { endpoint: llm.endpoint, model: 'm' });
  assert.ok(r.hops.length >= 1);
  assert.ok(llm.requests.length >= 1, 'the allowed endpoint was called');
  for (const q of llm.requests) assert.ok(!JSON.stringify(q.body).includes('ninety'), 'the policy\'s pattern was redacted');
});

test('LocalEngine: a policy that is present but invalid refuses searches (fails closed)', async () => {
  const e = await engineWith({}, ['managed policy: unknown key \'allowedMatter\'']);
  await assert.rejects(e.search('terminate', {}), /policy cannot be used/);
  await assert.rejects(e.ask('terminate', { hops: 1, rewrite: 'rm3' }, () => {}), /policy cannot be used/);
});
