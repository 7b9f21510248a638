// Cross-host parity: the same asks and the same feedback, through every host
// foldback has, must give the same requests on the wire, the same traces
// (ids and clocks aside), the same accepted/refused feedback, the same
// stored records and the same export lines.
//
//   node tests/parity/parity.test.mjs [ask|feedback]    (ctest: parity.ask, parity.feedback)
//
// Hosts (HOSTS below):
//   cli      build/bin/foldback ask|feedback|export (native/llm's libcurl client)
//   c_http   the C API from C, fb_ask_run_http (tests/parity/parity_c_driver.c)
//   c_needs  the C API from C, every need answered by the C host itself through
//            fb_ask_need_http_request + fb_ask_provide_http_response
//   js       the npm package in this Node process (build/wasm/package:
//            engine.ask with createLlmHost, engine.feedback / export)
//   serve    `foldback serve` over HTTP (POST /v1/ask with a bearer token
//            whose user's matters are the wall; --redact on the server):
//            the endpoint transcripts only (ASK_HOSTS); its feedback and
//            exports go through the same host code as the CLI's
//
// Inputs are data: tests/parity/transcripts/*.json (what the loopback
// endpoint — tests/support/llm_test_server, standalone, --echo — answers;
// unscripted chats get the echo reply) and tests/parity/feedback_fixtures.json
// (steps: ask, feedback, forget_matter, export). Each host runs on a fresh
// copy of one generated index (`foldback ingest` of three matters; the JS
// engine loads the same snapshot).
//
// Each run becomes a normalized record, compared per *aspect*:
//   ask:      wire (method, path, query, headers minus transport ones, auth
//             shown as "<key>", JSON body, and the wait before each retry
//             in three buckets: <300 ms, 300-800 ms, >=800 ms),
//             outcome (hops: source, query, results, attempts; fused; model),
//             codes (the status code names the trace's errors carry),
//             messages (errors, fallbacks, hop notes; URLs, durations, ids,
//             folders replaced by placeholders)
//   feedback: decisions (accepted, or the refusal's code, per step; c_needs
//             only where a fixture asks an endpoint),
//             messages (refusal messages), records (the log each host wrote,
//             decoded by the core's reader, ids and times removed), exports
//             (report and lines, ids replaced in order of appearance)
// Hosts must agree on every aspect, except where expected_divergences.json
// lists (case, aspect, host) with the reason: that host must then differ
// from the others (an entry that no longer differs fails too — delete it),
// and the remaining hosts must still agree.
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
const SERVER = env.FOLDBACK_LLM_TEST_SERVER || path.join(root, 'build/bin/foldback_llm_test_server');
const PKG = env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const PART = process.argv[2] || 'all';

for (const [what, file] of [['the wasm package', PKG], ['the CLI', CLI], ['the C driver', C_DRIVER], ['the test server', SERVER]]) {
  if (!existsSync(file)) {
    console.log(`parity: skipped: ${what} is not built (${file}); ./run.sh test builds it`);
    process.exit(77);
  }
}

const { createEngine } = await import(PKG);
const { createLlmHost } = await import(path.join(path.dirname(PKG), 'host.js'));

export const HOSTS = ['cli', 'c_http', 'c_needs', 'js'];
export const ASK_HOSTS = [...HOSTS, 'serve'];
const KEY = 'sk-parity-0123456789abcdef';
const MODEL = 'parity-model';
const QUESTION = 'Can the customer terminate the agreement for convenience?';

// ------------------------------------------------------------------ the corpus

// Three matters, contract-like text; a few chunks per document.
const CORPUS = {
  acme: {
    'acme-msa': ['Master Services Agreement between Acme Corp and its Customer.',
      '1. Term. This Agreement starts on the Effective Date and continues for three years.',
      '2. Termination for Convenience. The Customer may terminate this Agreement for convenience upon thirty days prior written notice to Acme.',
      '3. Governing Law. This Agreement is governed by the laws of the State of Delaware.',
      '4. Confidentiality. Each party keeps the other party\'s Confidential Information secret and uses it only for this Agreement.'],
    'acme-nda': ['Mutual Non-Disclosure Agreement of Acme Corp.',
      '1. Confidential Information means all non-public information disclosed by a party.',
      '2. Term. The obligations of confidentiality survive for two years after disclosure.',
      '3. Remedies. A breach may cause irreparable harm; injunctive relief is available.'],
  },
  beta: {
    'beta-lease': ['Commercial Lease between Beta Holdings (Landlord) and Tenant.',
      '1. Rent. Tenant pays the monthly rent on the first day of each month.',
      '2. Termination. Landlord may terminate this Lease upon Tenant default after sixty days written notice.',
      '3. Governing Law. This Lease is governed by the laws of the State of New York.'],
    'beta-supply': ['Supply Agreement between Beta Holdings and the Supplier.',
      '1. Orders. The Customer places purchase orders; the Supplier delivers within ten days.',
      '2. Termination for Convenience. Either party may terminate this Agreement for convenience upon ninety days notice.',
      '3. Indemnification. The Supplier indemnifies the Customer against third party claims.'],
  },
  gamma: {
    'gamma-employment': ['Employment Agreement of Gamma Labs.',
      '1. Duties. The Employee serves as general counsel.',
      '2. Termination for Cause. The Company may terminate the employment for cause without notice.',
      '3. Non-Compete. For one year after termination the Employee does not compete with the Company.'],
  },
};

let work;          // temporary folder of this run
let baseIndex;     // the generated index folder, copied for every host run
let snapshot;      // its index.fbsnap bytes (the JS engine's index)
let serverProc;
let baseUrl;       // http://127.0.0.1:PORT/v1
const firstChunkOf = new Map();  // doc id -> its first chunk id
let divergences;   // expected_divergences.json

async function startServer() {
  serverProc = spawn(SERVER, ['--port', '0', '--echo', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  baseUrl = await new Promise((resolve, reject) => {
    let out = '';
    serverProc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (\S+)/);
      if (m) resolve(m[1]);
    });
    serverProc.on('exit', (code) => reject(new Error(`test server exited (${code})`)));
  });
  process.on('exit', () => serverProc.kill('SIGTERM'));  // also when a test throws
}

async function control(route, body) {
  const resp = await fetch(baseUrl.replace(/\/v1$/, '') + route, body === undefined ? {} : { method: 'POST', body });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`test server ${route}: ${resp.status} ${text}`);
  return JSON.parse(text);
}

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'foldback-parity-'));
  baseIndex = path.join(work, 'index');
  for (const [matter, docs] of Object.entries(CORPUS)) {
    const dir = path.join(work, 'corpus', matter);
    await mkdir(dir, { recursive: true });
    for (const [id, paragraphs] of Object.entries(docs)) {
      await writeFile(path.join(dir, `${id}.txt`), `${paragraphs.join('\n\n')}\n`);
    }
    await run(CLI, ['ingest', '--index', baseIndex, '--matter', matter, dir]);
  }
  snapshot = await readFile(path.join(baseIndex, 'index.fbsnap'));
  const engine = await createEngine({ snapshot });
  for (const docs of Object.values(CORPUS)) {
    for (const id of Object.keys(docs)) {
      const hits = engine.search(docs[id][0], { mode: 'bm25', topK: 50, filter: { id } });
      assert.ok(hits.length > 0, `no chunk of ${id}`);
      firstChunkOf.set(id, hits.map((h) => h.chunkId).sort()[0]);
    }
  }
  engine.dispose();
  divergences = JSON.parse(await readFile(path.join(here, 'expected_divergences.json'), 'utf8'));
  await startServer();
});

after(async () => {
  if (serverProc) serverProc.kill('SIGTERM');
  if (work) await rm(work, { recursive: true, force: true });
});

async function freshIndex(name) {
  const dir = path.join(work, 'runs', name);
  await rm(dir, { recursive: true, force: true });
  await cp(baseIndex, dir, { recursive: true });
  return dir;
}

// ------------------------------------------------------------------ normalization

const CODE_NAMES = ['Invalid argument', 'Not found', 'Corruption', 'Not supported', 'IO error', 'Out of range',
  'Deadline exceeded', 'Unavailable', 'Permission denied', 'Failed precondition', 'Internal error'];
// FB_E* codes of bindings/c/foldback.h as the core's code names.
const C_CODES = { '-1': 'Invalid argument', '-2': 'Not found', '-3': 'Corruption', '-4': 'Not supported',
  '-5': 'IO error', '-6': 'Out of range', '-7': 'Deadline exceeded', '-8': 'Unavailable',
  '-9': 'Permission denied', '-10': 'Failed precondition', '-11': 'Internal error', '-12': 'Out of memory' };

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

function text(s, dir) {
  let out = String(s);
  if (dir) out = out.split(dir).join('<index>');
  return out
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://<server>')
    // where the key came from is the host's to say: $VAR (CLI), the params (C API), createLlmHost (JS)
    .replace(/the API key in (\$\w+|the host \(fb_llm_endpoint_params\.api_key\)|createLlmHost's apiKey)/g, 'the API key in <key source>')
    .replace(UUID, '<id>')
    .replace(/\b\d+(\.\d+)?\s?(ms|s)\b/g, '<time>');
}

const round = (x) => Number(Number(x).toPrecision(6));

// Headers that belong to each HTTP stack, not to foldback's requests.
const TRANSPORT_HEADERS = new Set(['host', 'content-length', 'connection', 'keep-alive', 'user-agent', 'accept-encoding',
  'accept-language', 'sec-fetch-mode', 'expect', 'transfer-encoding', 'te',
  // what fetch's `cache: 'no-store'` (wasm/src/host.js) becomes; a POST is never cached
  'cache-control', 'pragma',
  // cpp-httplib's own entries in a request's headers
  'local_addr', 'local_port', 'remote_addr', 'remote_port']);

// A retry (the same body as the request before it) carries the wait before
// it: '<300ms' (a short server-directed wait), '300-800ms' (the first
// backoff: 375-500 ms), '>=800ms' (a long server-directed wait); any other
// request 'new' (the time between hops is the machine's, not the policy's).
function wire(requests) {
  let last = null;
  let lastBody = null;
  return requests.map((r) => {
    const headers = {};
    for (const [name, value] of Object.entries(r.headers).sort()) {
      if (TRANSPORT_HEADERS.has(name)) continue;
      headers[name] = value.split(KEY).join('<key>');
    }
    let body;
    try { body = JSON.parse(r.body); } catch { body = { unparsed: r.body }; }
    const gap = r.arrival_ms - last;
    const retry = r.body === lastBody;
    last = r.arrival_ms;
    lastBody = r.body;
    return { method: r.method, path: r.path, query: r.query, headers, body,
      wait: !retry ? 'new' : gap < 300 ? '<300ms' : gap < 800 ? '300-800ms' : '>=800ms', status: r.status };
  });
}

// The core's trace JSON (TraceToJson) as aspects.
function traceAspects(traceJson, dir) {
  const t = typeof traceJson === 'string' ? JSON.parse(traceJson) : traceJson;
  const hits = (list) => (list || []).map((h) => [h.chunk_id, round(h.score)]);
  const outcome = {
    question: t.question,
    hops: (t.hops || []).map((h) => ({ hop: h.hop, source: h.source, query: h.query, variant_queries: h.variant_queries,
      results: hits(h.results), new_chunks: h.new_chunks, llm_attempts: h.llm_attempts })),
    fused: hits(t.fused), model: t.model, program_version: t.program_version, stopped_early: t.stopped_early,
    redactions: t.redactions || [], feedback_demos: t.feedback_demos, answer: t.answer || '',
  };
  const errors = t.errors || [];
  const codes = errors.map((e) => CODE_NAMES.filter((c) => e.includes(`${c}:`)));
  const messages = { errors: errors.map((e) => text(e, dir)), fallbacks: (t.fallbacks || []).map((f) => text(f, dir)),
    notes: (t.hops || []).map((h) => text(h.note, dir)) };
  return { outcome, codes, messages };
}

// ------------------------------------------------------------------ comparing

function expectedFor(kase, aspect) {
  const hosts = new Set();
  for (const d of divergences) {
    const cases = d.cases || [d.case];
    if (cases.includes(kase) && d.aspect === aspect) {
      for (const h of [].concat(d.host)) hosts.add(h);
    }
  }
  return hosts;
}

// Every host agrees on every aspect but the listed divergences; each listed
// host really differs. Failures name the case, aspect and hosts, with values.
// PARITY_DUMP=DIR writes every host's record of every case there, to diff by hand.
async function compare(kase, records) {
  if (env.PARITY_DUMP) {
    await mkdir(env.PARITY_DUMP, { recursive: true });
    for (const h of Object.keys(records)) {
      await writeFile(path.join(env.PARITY_DUMP, `${kase.replace('/', '_')}.${h}.json`), JSON.stringify(records[h], null, 1));
    }
  }
  const problems = [];
  const hosts = Object.keys(records);
  const aspects = Object.keys(records[hosts[0]]);
  for (const aspect of aspects) {
    const listed = expectedFor(kase, aspect);
    for (const h of listed) assert.ok(hosts.includes(h), `${kase}/${aspect}: expected_divergences.json names ${h}, which this case does not run`);
    const rest = hosts.filter((h) => !listed.has(h));
    assert.ok(rest.length >= 2, `${kase}/${aspect}: expected_divergences.json leaves fewer than two hosts to compare`);
    const ref = rest[0];
    const show = (h) => JSON.stringify(records[h][aspect], null, 1).slice(0, 4000);
    for (const h of rest.slice(1)) {
      try {
        assert.deepStrictEqual(records[h][aspect], records[ref][aspect]);
      } catch {
        problems.push(`${kase} [${aspect}]: ${h} differs from ${ref} (not an expected divergence)\n--- ${ref}:\n${show(ref)}\n--- ${h}:\n${show(h)}`);
      }
    }
    for (const h of listed) {
      let same = false;
      try {
        assert.deepStrictEqual(records[h][aspect], records[ref][aspect]);
        same = true;
      } catch { /* differs, as listed */ }
      if (same) problems.push(`${kase} [${aspect}]: ${h} now agrees with ${ref}: delete its entry from tests/parity/expected_divergences.json`);
    }
  }
  assert.ok(problems.length === 0, problems.join('\n\n'));
}

// ------------------------------------------------------------------ ask drivers

// opts: {question, hops, rewrite, answer, deadline_ms, allowed_matters, redact, endpoint (bool)}
const askDrivers = {
  async cli(dir, o) {
    const args = ['ask', '--index', dir, '--json', '--hops', String(o.hops ?? 2), '--rewrite', o.rewrite || 'llm'];
    if (o.endpoint) args.push('--endpoint', baseUrl, '--model', MODEL, '--api-key-env', 'PARITY_KEY');
    if (o.answer) args.push('--answer');
    if (o.deadline_ms) args.push('--deadline-ms', String(o.deadline_ms));
    if (o.allowed_matters) args.push('--allowed-matters', o.allowed_matters.join(','));
    for (const p of o.redact || []) args.push('--redact', p);
    args.push(o.question || QUESTION);
    const { stdout } = await run(CLI, args, { env: { ...env, PARITY_KEY: KEY } });
    const out = JSON.parse(stdout);
    const trace = JSON.parse(await readFile(path.join(dir, 'traces', `${out.trace_id}.json`), 'utf8'));
    return { traceId: out.trace_id, passages: out.results.map((r) => r.chunk_id), trace };
  },
  async serve(dir, o) {
    // One user whose matters are the wall ("*": none), as the CLI's --allowed-matters.
    const token = 'parity-serve-token';
    const users = path.join(dir, 'users.toml');
    await writeFile(users, `[[user]]\nname = "parity"\ntoken_sha256 = "${createHash('sha256').update(token).digest('hex')}"\n` +
      `matters = ${JSON.stringify(o.allowed_matters || ['*'])}\n`);
    const args = ['serve', '--index', dir, '--users', users, '--listen', '127.0.0.1:0', '--rate-limit', '0'];
    if (o.endpoint) args.push('--endpoint', baseUrl, '--model', MODEL, '--api-key-env', 'PARITY_KEY');
    for (const p of o.redact || []) args.push('--redact', p);
    const child = spawn(CLI, args, { env: { ...env, PARITY_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    try {
      const port = await new Promise((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', (code) => reject(new Error(`foldback serve exited (${code}): ${stderr}`)));
      });
      const body = { question: o.question || QUESTION, hops: o.hops ?? 2, rewrite: o.rewrite || 'llm', answer: Boolean(o.answer) };
      if (o.deadline_ms) body.deadline_ms = o.deadline_ms;
      const res = await fetch(`http://127.0.0.1:${port}/v1/ask`, {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      const out = await res.json();
      if (!res.ok) throw new Error(`serve /v1/ask: ${res.status} ${JSON.stringify(out)}`);
      const trace = JSON.parse(await readFile(path.join(dir, 'traces', `${out.trace_id}.json`), 'utf8'));
      return { traceId: out.trace_id, passages: out.results.map((r) => r.chunk_id), trace };
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => { if (child.exitCode !== null) resolve(); else child.on('exit', resolve); });
    }
  },
  c_http: (dir, o) => cAsk(dir, o, 'http'),
  c_needs: (dir, o) => cAsk(dir, o, 'needs'),
  async js(dir, o, state) {
    const engine = state.engine;
    // Redaction patterns: the JS options have no place for them today; the
    // host's redactPatterns is what the package offers.
    const host = o.endpoint ? createLlmHost({ endpoint: baseUrl, model: MODEL, apiKey: KEY, redactPatterns: o.redact || [] }) : null;
    const options = { hops: o.hops ?? 2, rewrite: o.rewrite || 'llm', answer: Boolean(o.answer) };
    if (o.deadline_ms) options.deadlineMs = o.deadline_ms;
    if (o.allowed_matters) options.allowedMatters = o.allowed_matters;
    const r = await engine.ask(o.question || QUESTION, options, host);
    return { traceId: r.traceId, passages: r.passages.map((p) => p.chunkId), trace: JSON.parse(r.traceJson) };
  },
};

async function cAsk(dir, o, driver) {
  const args = ['ask', dir, '--question', o.question || QUESTION, '--driver', driver, '--hops', String(o.hops ?? 2),
    '--rewrite', o.rewrite || 'llm'];
  if (o.endpoint) args.push('--endpoint', baseUrl, '--model', MODEL, '--key', KEY);
  if (o.answer) args.push('--answer');
  if (o.deadline_ms) args.push('--deadline-ms', String(o.deadline_ms));
  if (o.allowed_matters) args.push('--allowed-matters', o.allowed_matters.join(','));
  for (const p of o.redact || []) args.push('--redact', p);
  const { stdout } = await run(C_DRIVER, args);
  const out = JSON.parse(stdout);
  if (!out.ok) throw new Error(`parity_c_driver ask (${driver}): ${out.error}`);
  return { traceId: out.trace_id, passages: out.passages, trace: out.trace };
}

async function hostState(host, dir) {
  return host === 'js' ? { engine: await createEngine({ snapshot }) } : {};
}

function disposeState(state) {
  if (state.engine) state.engine.dispose();
}

// ------------------------------------------------------------------ transcripts

// "@http-date+N": an HTTP-date N seconds from now, written when the
// transcript is played.
function script(transcript) {
  const replies = transcript.replies.map((r) => {
    const headers = {};
    for (const [k, v] of Object.entries(r.headers || {})) {
      const m = /^@http-date\+(\d+)$/.exec(v);
      headers[k] = m ? new Date(Date.now() + Number(m[1]) * 1000).toUTCString() : v;
    }
    return { ...r, headers };
  });
  return JSON.stringify({ replies });
}

async function playTranscript(name, transcript) {
  const records = {};
  for (const host of ASK_HOSTS) {
    const dir = await freshIndex(`${name}-${host}`);
    const state = await hostState(host, dir);
    try {
      await control('/__test/script', script(transcript));
      const out = await askDrivers[host](dir, { ...(transcript.ask || {}), endpoint: true }, state);
      const requests = await control('/__test/requests');
      const aspects = traceAspects(out.trace, dir);
      // A transcript may name outcome fields that depend on a race it cannot
      // avoid (slow-reply: whether the host's timeout or the session's
      // deadline is noticed first decides hop 1's llm_attempts).
      for (const field of transcript.unstable || []) for (const h of aspects.outcome.hops) delete h[field];
      records[host] = { wire: wire(requests), ...aspects };
    } finally {
      disposeState(state);
    }
  }
  return records;
}

// ------------------------------------------------------------------ feedback fixtures

function resolveRef(ref, asks) {
  if (typeof ref === 'string') return ref;
  if (ref.passage) {
    const [as, i] = ref.passage;
    const p = asks[as].passages[i];
    assert.ok(p, `fixture: ask '${as}' has no passage ${i}`);
    return p;
  }
  if (ref.chunk_of) {
    assert.ok(firstChunkOf.has(ref.chunk_of), `fixture: no document '${ref.chunk_of}'`);
    return firstChunkOf.get(ref.chunk_of);
  }
  throw new Error(`fixture: bad chunk reference ${JSON.stringify(ref)}`);
}

function refusal(code, message, dir) {
  return { decision: code, message: text(message, dir) };
}

// Parses "error: Code: message" (the CLI's stderr).
function cliRefusal(stderr, dir) {
  const line = String(stderr).split('\n').find((l) => l.startsWith('error: ')) || String(stderr);
  const msg = line.replace(/^error: /, '');
  const code = CODE_NAMES.find((c) => msg.startsWith(`${c}:`)) || 'unknown';
  return refusal(code, msg, dir);
}

async function runCli(args) {
  try {
    const { stdout } = await run(CLI, args);
    return { ok: true, stdout };
  } catch (e) {
    return { ok: false, stderr: e.stderr || String(e) };
  }
}

async function runC(args) {
  const { stdout } = await run(C_DRIVER, args);
  return JSON.parse(stdout);
}

// A fixture's feedback as command-line flags: the CLI and the C driver take the same ones.
function feedbackFlags(f) {
  const args = [];
  if (f.rating) args.push('--rating', f.rating);
  for (const c of f.relevant) args.push('--relevant', c);
  for (const c of f.partly) args.push('--partly', c);
  for (const c of f.irrelevant) args.push('--irrelevant', c);
  if (f.critique) args.push('--critique', f.critique);
  if (f.correction) args.push('--correction', f.correction);
  if (f.preferred_rewrite) args.push('--preferred-rewrite', f.preferred_rewrite);
  for (const t of f.tags) args.push('--tag', t);
  if (f.consent) args.push('--consent');
  if (f.privileged) args.push('--privileged');
  if (f.replace_earlier) args.push('--replace-earlier');
  if (f.user) args.push('--user', f.user);
  if (f.matter) args.push('--matter', f.matter);
  return args;
}

const feedbackDrivers = {
  async cli(dir, f) {
    const args = ['feedback', '--index', dir, '--trace', f.trace, ...feedbackFlags(f)];
    const r = await runCli(args);
    return r.ok ? { decision: 'accepted', message: '' } : cliRefusal(r.stderr, dir);
  },
  async c(dir, f) {
    const args = ['feedback', dir, '--trace', f.trace, ...feedbackFlags(f)];
    const r = await runC(args);
    return r.ok ? { decision: 'accepted', message: '' } : refusal(C_CODES[r.code] || String(r.code), r.error, dir);
  },
  async js(dir, f, state) {
    const labels = [
      ...f.relevant.map((chunkId) => ({ chunkId, label: 'relevant' })),
      ...f.partly.map((chunkId) => ({ chunkId, label: 'partly' })),
      ...f.irrelevant.map((chunkId) => ({ chunkId, label: 'not_relevant' })),
    ];
    const input = { traceId: f.trace, labels, tags: f.tags, consentToTrain: Boolean(f.consent), privileged: Boolean(f.privileged) };
    if (f.rating) input.rating = f.rating;
    if (f.critique) input.critique = f.critique;
    if (f.correction) input.correctedAnswer = f.correction;
    if (f.preferred_rewrite) input.preferredRewrite = f.preferred_rewrite;
    if (f.user) input.user = f.user;
    if (f.matter) input.matter = f.matter;
    if (f.replace_earlier) input.replaceEarlier = true;
    try {
      await state.engine.feedback(input);
      return { decision: 'accepted', message: '' };
    } catch (e) {
      return refusal(e.code || 'unknown', e.message, dir);
    }
  },
};

const forgetDrivers = {
  async cli(dir, matter) {
    const r = await runCli(['feedback', '--index', dir, '--forget-matter', matter, '--json']);
    if (!r.ok) return cliRefusal(r.stderr, dir);
    const { forgotten, embedder } = JSON.parse(r.stdout);
    return { decision: 'accepted', forgotten, embedder };
  },
  async c(dir, matter) {
    const r = await runC(['forget-matter', dir, matter]);
    return r.ok ? { decision: 'accepted', forgotten: r.forgotten, embedder: r.embedder } : refusal(C_CODES[r.code], r.error, dir);
  },
  async js(dir, matter, state) {
    try {
      const { forgotten, embedder } = await state.engine.forgetMatter(matter);
      return { decision: 'accepted', forgotten, embedder };
    } catch (e) {
      return refusal(e.code, e.message, dir);
    }
  },
};

// The embedder trained on the labels recorded so far (the feedback source).
const trainDrivers = {
  async cli(dir, t) {
    const args = ['train', '--index', dir, '--sources', 'feedback', '--json'];
    if (t.shareable_matters) args.push('--shareable-matters', t.shareable_matters.join(','));
    const r = await runCli(args);
    if (!r.ok) return cliRefusal(r.stderr, dir);
    const report = JSON.parse(r.stdout);
    return { decision: 'accepted', trained: `${report.pairs_total} pairs, version ${report.version}` };
  },
  async c(dir, t) {
    const args = ['train', dir];
    if (t.shareable_matters) args.push('--shareable-matters', t.shareable_matters.join(','));
    const r = await runC(args);
    return r.ok ? { decision: 'accepted', trained: `${r.pairs} pairs, version ${r.version}` } : refusal(C_CODES[r.code], r.error, dir);
  },
  async js(dir, t, state) {
    try {
      const r = await state.engine.train({ sources: 'feedback', ...(t.shareable_matters ? { shareableMatters: t.shareable_matters } : {}) });
      return { decision: 'accepted', trained: `${r.pairs.total} pairs, version ${r.embedder.version}` };
    } catch (e) {
      return refusal(e.code, e.message, dir);
    }
  },
};

// Export lines with ids replaced by <id1>, <id2>... in order of appearance.
function exportLines(textOut) {
  const ids = new Map();
  const out = String(textOut).replace(UUID, (id) => {
    if (!ids.has(id)) ids.set(id, `<id${ids.size + 1}>`);
    return ids.get(id);
  });
  return out.split('\n').filter((l) => l.trim() !== '');
}

const REPORT_KEYS = ['records', 'exported', 'rows', 'no_consent', 'privileged', 'unusable', 'stale_passages'];

// The CLI's summary line: "exported R line(s) from E of N record(s) to F
// (skipped: A without consent, B privileged, W behind the wall, U with
// nothing for this format; S stale passage(s))".
function cliReport(stdout) {
  const m = /exported (\d+) \S+ from (\d+) of (\d+) record\(s\) to .* \(skipped: (\d+) without consent, (\d+) privileged, (\d+) behind the wall, (\d+) with nothing for this format; (\d+) stale/.exec(stdout);
  assert.ok(m, `unexpected export summary: ${stdout}`);
  const [rows, exported, records, noConsent, privileged, , unusable, stale] = m.slice(1).map(Number);
  return { records, exported, rows, no_consent: noConsent, privileged, unusable, stale_passages: stale };
}

const exportDrivers = {
  async cli(dir, e) {
    const out = path.join(dir, `export-${e.format}.jsonl`);
    const args = ['export', '--index', dir, '--format', e.format, '--out', out];
    if (e.allowed_matters) args.push('--allowed-matters', e.allowed_matters.join(','));
    const r = await runCli(args);
    if (!r.ok) return cliRefusal(r.stderr, dir);
    return { decision: 'accepted', report: cliReport(r.stdout), lines: exportLines(await readFile(out, 'utf8')) };
  },
  async c(dir, e) {
    const out = path.join(dir, `export-${e.format}.jsonl`);
    const args = ['export', dir, '--format', e.format, '--out', out];
    if (e.allowed_matters) args.push('--allowed-matters', e.allowed_matters.join(','));
    const r = await runC(args);
    if (!r.ok) return refusal(C_CODES[r.code], r.error, dir);
    return { decision: 'accepted', report: r.report, lines: exportLines(await readFile(out, 'utf8')) };
  },
  async js(dir, e, state) {
    try {
      const r = state.engine.exportWithReport(e.format, e.allowed_matters ? { allowedMatters: e.allowed_matters } : {});
      const rep = r.report;
      const report = { records: rep.records, exported: rep.exported, rows: rep.rows, no_consent: rep.noConsent,
        privileged: rep.privileged, unusable: rep.unusable, stale_passages: rep.stalePassages };
      return { decision: 'accepted', report, lines: exportLines(r.text) };
    } catch (err) {
      return refusal(err.code, err.message, dir);
    }
  },
};

// The log a host wrote, decoded by the core's reader (the wasm module's
// Feedback), ids and times removed.
async function decodedRecords(host, dir, state) {
  let bytes;
  if (host === 'js') {
    bytes = state.engine.feedbackLog();
  } else {
    const file = path.join(dir, 'feedback.log');
    bytes = existsSync(file) ? await readFile(file) : new Uint8Array(0);
  }
  const engine = await createEngine({ snapshot });
  const fb = new engine._module.Feedback();
  try {
    const info = fb.load(bytes);
    const records = fb.records().map((r) => {
      // The ids differ from host to host: the records replaced are counted.
      const { recordId, traceId, timeMs, replaces, ...rest } = r;
      rest.replaced = replaces.length;
      return JSON.parse(JSON.stringify(rest, (k, v) => (k === 'score' && typeof v === 'number' ? round(v) : v)));
    });
    return { records, tombstones: info.tombstones, forgottenMatters: fb.info().forgottenMatters };
  } finally {
    fb.delete();
    engine.dispose();
  }
}

// c_needs differs from c_http in how needs are answered only, so it plays
// the fixtures that ask an endpoint (the feedback calls are the same).
async function playFixture(name, fixture) {
  const records = {};
  const usesEndpoint = fixture.steps.some((s) => s.ask && s.ask.endpoint);
  for (const host of HOSTS.filter((h) => h !== 'c_needs' || usesEndpoint)) {
    const dir = await freshIndex(`fb-${name}-${host}`);
    const state = await hostState(host, dir);
    const kind = host === 'js' ? 'js' : host === 'cli' ? 'cli' : 'c';
    const asks = {};
    const steps = [];
    try {
      await control('/__test/script', JSON.stringify({ replies: fixture.replies || [] }));
      for (const step of fixture.steps) {
        if (step.ask) {
          const o = { rewrite: 'none', ...step.ask };
          const out = await askDrivers[host](dir, o, state);
          asks[step.as || 'q'] = out;
          steps.push({ step: 'ask', passages: out.passages });
        } else if (step.feedback) {
          const f = step.feedback;
          const input = {
            ...f,
            trace: asks[f.trace || 'q'].traceId,
            relevant: (f.relevant || []).map((r) => resolveRef(r, asks)),
            partly: (f.partly || []).map((r) => resolveRef(r, asks)),
            irrelevant: (f.irrelevant || []).map((r) => resolveRef(r, asks)),
            tags: f.tags || [],
          };
          steps.push({ step: 'feedback', ...(await feedbackDrivers[kind](dir, input, state)) });
        } else if (step.train) {
          steps.push({ step: 'train', ...(await trainDrivers[kind](dir, step.train, state)) });
        } else if (step.forget_matter) {
          steps.push({ step: 'forget_matter', ...(await forgetDrivers[kind](dir, step.forget_matter, state)) });
        } else if (step.export) {
          steps.push({ step: `export ${step.export.format}`, ...(await exportDrivers[kind](dir, step.export, state)) });
        } else {
          throw new Error(`fixture ${name}: unknown step ${JSON.stringify(step)}`);
        }
      }
      const stored = await decodedRecords(host, dir, state);
      records[host] = {
        decisions: steps.map((s) => `${s.step}: ${s.decision || 'done'}${s.forgotten !== undefined ? ` (${s.forgotten} forgotten)` : ''}` +
          `${s.trained ? ` (${s.trained})` : ''}${s.embedder ? ` (embedder: ${s.embedder})` : ''}`),
        messages: steps.map((s) => s.message || ''),
        passages: steps.filter((s) => s.passages).map((s) => s.passages),
        records: stored,
        exports: steps.filter((s) => s.lines || s.report).map((s) => ({ step: s.step, report: s.report, lines: s.lines })),
      };
    } finally {
      disposeState(state);
    }
  }
  return records;
}

// ------------------------------------------------------------------ the tests

const transcriptDir = path.join(here, 'transcripts');
const transcripts = (await readdir(transcriptDir)).filter((f) => f.endsWith('.json')).sort();
const fixtures = JSON.parse(await readFile(path.join(here, 'feedback_fixtures.json'), 'utf8'));

if (PART === 'all' || PART === 'ask') {
  for (const file of transcripts) {
    const name = file.replace(/\.json$/, '');
    const transcript = JSON.parse(await readFile(path.join(transcriptDir, file), 'utf8'));
    test(`ask/${name}: ${transcript.description}`, async () => {
      await compare(`ask/${name}`, await playTranscript(name, transcript));
    });
  }
}

if (PART === 'all' || PART === 'feedback') {
  for (const [name, fixture] of Object.entries(fixtures)) {
    if (name.startsWith('//')) continue;
    test(`feedback/${name}: ${fixture.description}`, async () => {
      await compare(`feedback/${name}`, await playFixture(name, fixture));
    });
  }
}

// Every entry of expected_divergences.json names a case and aspect that exist.
test('expected_divergences.json names only cases of this suite', () => {
  const known = new Set([...transcripts.map((f) => `ask/${f.replace(/\.json$/, '')}`),
    ...Object.keys(fixtures).filter((n) => !n.startsWith('//')).map((n) => `feedback/${n}`)]);
  for (const d of divergences) {
    for (const c of d.cases || [d.case]) assert.ok(known.has(c), `expected_divergences.json: unknown case '${c}'`);
    for (const h of [].concat(d.host)) assert.ok(ASK_HOSTS.includes(h), `expected_divergences.json: unknown host '${h}'`);
    assert.ok(d.reason && d.reason.length > 10, `expected_divergences.json: an entry for ${d.case || d.cases} gives no reason`);
  }
});
