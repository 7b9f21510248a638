// What a 2-hop ask costs in the browser engine, LLM time excluded: the
// counterpart of build/bin/ask_bench (tests/bench/ask_bench.cc) for the wasm
// package. A benchmark script, not a test:
//
//   cmake --build build/wasm                      # package + bench module
//   node wasm/bench/ask_bench.mjs [--docs 10000] [--seconds 3] [--no-chromium] [--json FILE]
//
// The corpus is ask_bench's: --docs documents of 10 paragraphs of 90 words
// drawn from the unigram distribution of the demo corpus
// (examples/corpus/cuad), 100-token chunks, 50 matters, no dense index. The
// question and the two canned query-writer replies are ask_bench's too, and
// every LLM need is answered at once by an in-process host, so what is timed
// is foldback: the C++ session and its searches (in wasm), embind, and the
// JavaScript ask loop that drives it (events with their passages, the trace
// kept for feedback).
//
// Reported per hop (mean over --seconds of back-to-back asks, after a
// warm-up so that V8 has tiered the hot wasm up):
//   core   AskSession alone inside wasm (build/wasm/bench/foldback_bench.mjs),
//          no JavaScript in the loop — comparable with ask_bench natively;
//   API    engine.ask() from JavaScript, in Node and in headless Chromium;
//   search engine.search() of the two hop queries alone (the floor).
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const docs = Number(opt('--docs', '10000'));
const seconds = Number(opt('--seconds', '3'));
const jsonOut = opt('--json', null);
const useChromium = !args.includes('--no-chromium');
const pkgDir = path.resolve(root, opt('--package', 'build/wasm/package'));
const benchModule = path.join(path.dirname(pkgDir), 'bench/foldback_bench.mjs');
const log = (...a) => console.error(...a);

// ------------------------------------------------------------------ the measurement
// Runs in Node and, stringified, in a Chromium page: no closures over this file.
async function measure(createEngine, words, { docs, seconds, cpu }) {
  const now = () => performance.now();
  let seed = 42;
  const rand = () => {  // xorshift32
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed / 4294967296;
  };
  const engine = await createEngine({ index: { embedder: 'none', chunkTargetTokens: 100, chunkMaxTokens: 200 } });
  const t0 = now();
  const batch = [];
  for (let d = 0; d < docs; ++d) {
    let text = '';
    for (let p = 0; p < 10; ++p) {
      for (let w = 0; w < 90; ++w) text += words[Math.floor(rand() * words.length)] + (w === 89 ? '.\n\n' : ' ');
    }
    batch.push({ id: `doc-${d}`, title: `Agreement ${d}`, text, matter: `m${d % 50}` });
    if (batch.length === 500) { engine.add(batch); batch.length = 0; }
  }
  if (batch.length) engine.add(batch);
  const ingestMs = now() - t0;
  const stats = engine.stats();

  const question = 'Can either party terminate the agreement early?';
  const replies = ['[[ ## query ## ]]\ntermination notice party agreement\n\n[[ ## completed ## ]]',
    '[[ ## query ## ]]\nfees payment invoice days\n\n[[ ## completed ## ]]'];
  const host = { perform: async (need) => ({ ok: true, text: replies[need.hop <= 1 ? 0 : 1], model: 'bench', attempts: 1, elapsedMs: 0 }) };
  const walls = Array.from({ length: 25 }, (_, m) => `m${m}`);

  async function timeAsks(options, secs) {
    let hops = 0;
    let asks = 0;
    const c0 = cpu ? cpu() : 0;
    const w0 = now();
    while (now() - w0 < secs * 1000) {
      const r = await engine.ask(question, { hops: 2, mode: 'bm25', ...options }, options.rewrite === 'llm' ? host : null);
      hops += r.trace.hops.length;
      asks++;
    }
    const wall = now() - w0;
    return { asks, hops, perHopMs: wall / hops, perHopCpuMs: cpu ? (cpu() - c0) / hops : null };
  }

  function timeSearch(depth, secs) {
    let n = 0;
    const c0 = cpu ? cpu() : 0;
    const w0 = now();
    while (now() - w0 < secs * 1000) {
      engine.search('termination notice party agreement', { mode: 'bm25', topK: depth });
      engine.search('fees payment invoice days', { mode: 'bm25', topK: depth });
      n += 2;
    }
    const wall = now() - w0;
    return { searches: n, perHopMs: wall / n, perHopCpuMs: cpu ? (cpu() - c0) / n : null };
  }

  // Warm-up: V8 runs wasm as baseline code first and tiers it up in the background.
  await timeAsks({ rewrite: 'llm', depth: 5, topK: 5 }, 1.5);
  timeSearch(5, 0.5);
  const out = { ingestMs, chunks: stats.chunks, documents: stats.documents };
  out.llm5 = await timeAsks({ rewrite: 'llm', depth: 5, topK: 5 }, seconds);
  out.llm50 = await timeAsks({ rewrite: 'llm', depth: 50, topK: 50 }, seconds);
  out.llmWalls5 = await timeAsks({ rewrite: 'llm', depth: 5, topK: 5, allowedMatters: walls }, seconds);
  out.none5 = await timeAsks({ rewrite: 'none', depth: 5, topK: 5 }, seconds);
  out.rm35 = await timeAsks({ rewrite: 'rm3', depth: 5, topK: 5 }, seconds);
  out.search5 = timeSearch(5, seconds);
  out.search50 = timeSearch(50, seconds);
  out.snapshot = engine.snapshot();
  return out;
}

// ------------------------------------------------------------------ Node

async function demoWords() {
  const dir = path.join(root, 'examples/corpus/cuad');
  const words = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.txt')).sort()) {
    for (const m of (await readFile(path.join(dir, f), 'utf8')).matchAll(/[A-Za-z]+/g)) words.push(m[0]);
  }
  return words;
}

async function runNode(words) {
  const { createEngine } = await import(pathToFileURL(path.join(pkgDir, 'index.js')).href);
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const r = await measure(createEngine, words, { docs, seconds, cpu });
  // The core alone, inside wasm, on the very same index.
  if (existsSync(benchModule)) {
    const { default: createBench } = await import(pathToFileURL(benchModule).href);
    const bench = await createBench({ wasmBinary: await readFile(benchModule.replace(/\.mjs$/, '.wasm')) });
    const err = bench.load(r.snapshot);
    if (err) throw new Error(err);
    bench.askMicrosPerHop(5, 'llm', false, 1.5);  // warm-up
    r.core = {
      llm5: bench.askMicrosPerHop(5, 'llm', false, seconds) / 1000,
      llm50: bench.askMicrosPerHop(50, 'llm', false, seconds) / 1000,
      llmWalls5: bench.askMicrosPerHop(5, 'llm', true, seconds) / 1000,
      none5: bench.askMicrosPerHop(5, 'none', false, seconds) / 1000,
      rm35: bench.askMicrosPerHop(5, 'rm3', false, seconds) / 1000,
    };
  } else {
    r.core = { skipped: `${benchModule} is missing (cmake --build build/wasm --target foldback_wasm_bench builds it)` };
  }
  delete r.snapshot;
  return r;
}

// ------------------------------------------------------------------ Chromium

async function runChromium(words) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return { skipped: 'playwright-core is not installed' };
  }
  if (!existsSync('/usr/bin/chromium')) return { skipped: '/usr/bin/chromium is missing' };
  const page = `<!doctype html><script type="module">
const measure = ${measure.toString()};
const { createEngine } = await import('./index.js');
const words = await (await fetch('./words.json')).json();
try {
  const r = await measure(createEngine, words, ${JSON.stringify({ docs, seconds })});
  delete r.snapshot;
  window.__result = r;
} catch (e) {
  window.__result = { error: String(e && e.stack || e) };
}
</script>`;
  const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
  const server = http.createServer(async (req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
    try {
      let body;
      let type;
      if (name === 'bench.html') { body = page; type = 'text/html'; }
      else if (name === 'words.json') { body = JSON.stringify(words); type = 'application/json'; }
      else { body = await readFile(path.join(pkgDir, path.basename(name))); type = types[path.extname(name)] || 'application/octet-stream'; }
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  try {
    const p = await (await browser.newContext()).newPage();
    await p.goto(`http://127.0.0.1:${server.address().port}/bench.html`);
    const handle = await p.waitForFunction(() => window.__result, null, { timeout: 30 * 60 * 1000, polling: 500 });
    const r = await handle.jsonValue();
    if (r.error) throw new Error(`in Chromium: ${r.error}`);
    return { version: browser.version(), ...r };
  } finally {
    await browser.close();
    server.close();
  }
}

// ------------------------------------------------------------------ main

const words = await demoWords();
const results = { machine: `${os.cpus()[0].model}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}, Node ${process.version}`, docs, seconds };
log(`ask_bench: ${docs} documents from ${words.length} demo-corpus words, ${seconds} s per measurement`);
results.node = await runNode(words);
log(`  node: ${results.node.chunks} chunks, ingest ${(results.node.ingestMs / 1000).toFixed(1)} s`);
if (useChromium) {
  log('  chromium: building the same corpus in a page …');
  results.chromium = await runChromium(words);
}
results.loadAfter = os.loadavg()[0];

const f = (x) => (typeof x === 'number' ? `${x.toFixed(2)} ms` : '—');
const row = (label, key, coreKey = key) => {
  const n = results.node[key];
  const c = results.chromium && !results.chromium.skipped ? results.chromium[key] : null;
  const core = results.node.core && typeof results.node.core[coreKey] === 'number' ? results.node.core[coreKey] : null;
  return `| ${label} | ${f(core)} | ${f(n.perHopMs)} (CPU ${f(n.perHopCpuMs)}) | ${c ? f(c.perHopMs) : '—'} |`;
};
console.log(`\n${results.node.chunks.toLocaleString('en-GB')} chunks; per hop, wall (Node CPU); ${results.machine}\n`);
console.log('| 2-hop ask, BM25 | core in wasm | engine.ask, Node | engine.ask, Chromium |');
console.log('|---|---|---|---|');
console.log(row('LLM rewrite, depth 5', 'llm5'));
console.log(row('LLM rewrite, depth 50', 'llm50'));
console.log(row('LLM rewrite, walls (half the matters), depth 5', 'llmWalls5'));
console.log(row('the question twice (none), depth 5', 'none5'));
console.log(row('RM3, depth 5', 'rm35'));
const s = (key) => {
  const n = results.node[key];
  const c = results.chromium && !results.chromium.skipped ? results.chromium[key] : null;
  return `${f(n.perHopMs)} (CPU ${f(n.perHopCpuMs)}) Node, ${c ? f(c.perHopMs) : '—'} Chromium`;
};
console.log(`\nengine.search of the hop queries alone: depth 5 ${s('search5')}; depth 50 ${s('search50')}`);
if (results.chromium && results.chromium.skipped) console.log(`Chromium: ${results.chromium.skipped}`);
if (jsonOut) await writeFile(jsonOut, JSON.stringify(results, null, 2));
