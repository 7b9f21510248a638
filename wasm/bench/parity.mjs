// Native vs WebAssembly (SIMD and scalar), same data, same machine, one run.
// A benchmark script, not a test:
//
//   ./run.sh build && cmake --preset wasm-scalar && cmake --build --preset wasm-scalar
//   cmake --build build --target snapshot_bench
//   node wasm/bench/parity.mjs --corpus DIR [--seconds S] [--no-chromium] [--json FILE]
//   node wasm/bench/parity.mjs --instantiate-only      # just step 3's instantiation figures
//
// 1. ingests the corpus (e.g. the 510 contracts of CUAD v1, CC BY 4.0, The Atticus Project,
//    as plain text) in wasm (SIMD) with
//    a progress callback, trains the static embedder and builds the HNSW
//    graph; the native CLI ingests the same folder for comparison;
// 2. writes the wasm snapshot and times BM25, dense (HNSW) and hybrid
//    queries on that very snapshot: natively (build/bin/snapshot_bench), in
//    the SIMD build and in the scalar build (build/wasm-scalar);
// 3. reports the core .wasm size gzipped, instantiation time in Node, and —
//    with playwright-core and /usr/bin/chromium — in headless Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const corpusDir = opt('--corpus', undefined);
const seconds = Number(opt('--seconds', '2'));
const jsonOut = opt('--json', null);
const useChromium = !args.includes('--no-chromium');
// --instantiate-only: just the instantiation figures (Node, then Chromium).
const instantiateOnly = args.includes('--instantiate-only');

const builds = {
  simd: path.join(root, 'build/wasm/package'),
  scalar: path.join(root, 'build/wasm-scalar/package'),
};
const nativeCli = path.join(root, 'build/bin/foldback');
const nativeBench = path.join(root, 'build/bin/snapshot_bench');

const queries = [
  'termination for convenience upon thirty days written notice',
  'limitation of liability cap on damages',
  'governing law State of New York',
  'indemnify and hold harmless against third party claims',
  'assignment without prior written consent',
  'return or destroy confidential information',
  'exclusive license within the territory',
  'minimum insurance coverage requirements',
  'audit rights books and records',
  'non-compete after termination of this agreement',
  'most favored customer pricing',
  'change of control of either party',
  'minimum purchase commitment per year',
  'automatic renewal for successive one year terms',
  'warranty against defects in materials and workmanship',
  'intellectual property ownership of improvements',
  'revenue sharing royalty percentage of net sales',
  'source code escrow release conditions',
  'no solicitation of employees',
  'liquidated damages for late delivery',
];

let corpusDocs = [];
const results = { machine: `${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}`, corpus: corpusDir };
const log = (...a) => console.error(...a);
const ms = (x) => `${x.toFixed(1)} ms`;
const us = (x) => `${(x * 1000).toFixed(1)} µs`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function loadPackage(dir) {
  if (!existsSync(path.join(dir, 'index.js'))) return null;
  return import(pathToFileURL(path.join(dir, 'index.js')).href);
}

// V8 runs wasm first as baseline (Liftoff) code and tiers hot functions up
// to optimized (TurboFan) code in the background: measured first, BM25 looked
// 6x slower than it is. Every measurement below runs after a warm-up.
const WARMUP_MS = 1500;

function cpuMs(since) {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

// Mean {wall, cpu} milliseconds per query through the JS API (hits
// materialized as JS objects), over rounds of all queries for `seconds`.
function timeQueries(engine, mode) {
  const o = { mode, topK: 10 };
  const round = () => { for (const q of queries) engine.search(q, o); };
  for (const t0 = performance.now(); performance.now() - t0 < WARMUP_MS;) round();
  let rounds = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let now = start;
  while (now - start < seconds * 1000) {
    round();
    ++rounds;
    now = performance.now();
  }
  const n = rounds * queries.length;
  return { wall: (now - start) / n, cpu: cpuMs(cpu0) / n };
}

// The same in the benchmark module: Index::Search inside wasm, no JS
// marshalling of the hits (the like-for-like counterpart of snapshot_bench).
async function coreQueries(dir, snapshot) {
  const mjs = path.join(dir, '../bench/foldback_bench.mjs');
  if (!existsSync(mjs)) {
    console.error(`${mjs} is missing: cmake --build build/wasm --target foldback_wasm_bench`);
    return null;
  }
  const { default: create } = await import(pathToFileURL(mjs).href);
  const m = await create({ wasmBinary: await readFile(mjs.replace(/\.mjs$/, '.wasm')) });
  const err = m.load(snapshot);
  if (err) throw new Error(err);
  const out = {};
  for (const mode of ['bm25', 'dense', 'hybrid']) {
    for (const t0 = performance.now(); performance.now() - t0 < WARMUP_MS;) m.microsPerSearch(queries, mode, 5);
    // Rounds for about `seconds`, from a short probe.
    const probe = m.microsPerSearch(queries, mode, 5);
    const rounds = Math.max(5, Math.round((seconds * 1e6) / (probe * queries.length)));
    const cpu0 = process.cpuUsage();
    const wallUs = m.microsPerSearch(queries, mode, rounds);
    out[mode] = { wall: wallUs / 1000, cpu: cpuMs(cpu0) / (rounds * queries.length) };
  }
  return out;
}

async function ingest(pkg) {
  const files = (await readdir(corpusDir)).filter((f) => f.endsWith('.txt')).sort();
  const docs = [];
  let bytes = 0;
  for (const f of files) {
    const text = await readFile(path.join(corpusDir, f), 'utf8');
    bytes += Buffer.byteLength(text);
    docs.push({ id: f.replace(/\.txt$/, ''), title: f, text });
  }
  corpusDocs = docs;
  const engine = await pkg.createEngine();
  let lastTenth = -1;
  const t0 = performance.now();
  await engine.addMany(docs, {
    batchSize: 10,
    onProgress: ({ done, total, chunks }) => {
      const tenth = Math.floor((10 * done) / total);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        log(`  ingest ${done}/${total} documents, ${chunks} chunks, ${ms(performance.now() - t0)}`);
      }
    },
  });
  const t1 = performance.now();
  engine.buildDense();
  const t2 = performance.now();
  const stats = engine.stats();
  return { engine, docs: files.length, mb: bytes / 1e6, addMs: t1 - t0, denseMs: t2 - t1, stats };
}

function nativeIngest(dir) {
  if (!existsSync(nativeCli)) return null;
  const t0 = performance.now();
  const out = execFileSync(nativeCli, ['ingest', '--index', dir, corpusDir], { encoding: 'utf8' });
  const total = performance.now() - t0;
  const m = out.match(/in ([\d.]+)s — ([\d.]+) MB\/s/);
  const d = out.match(/dense index: \d+ vectors in ([\d.]+)s/);
  return { addMs: m ? Number(m[1]) * 1000 : null, mbPerS: m ? Number(m[2]) : null,
    denseMs: d ? Number(d[1]) * 1000 : null, totalMs: total };
}

function nativeQueries(snapshotPath, queriesPath) {
  if (!existsSync(nativeBench)) return null;
  const out = execFileSync(nativeBench, [`--benchmark_min_time=${seconds}`, '--benchmark_format=json'], {
    encoding: 'utf8', env: { ...process.env, FOLDBACK_BENCH_SNAPSHOT: snapshotPath, FOLDBACK_BENCH_QUERIES: queriesPath },
    maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const json = JSON.parse(out);
  const get = (name) => json.benchmarks.find((b) => b.name.startsWith(name));
  // real_time / cpu_time are µs per iteration (all queries once).
  const perQuery = (b) => ({ wall: b.real_time / queries.length / 1000, cpu: b.cpu_time / queries.length / 1000 });
  return {
    bm25: perQuery(get('BM_Search/bm25')), dense: perQuery(get('BM_Search/dense')),
    hybrid: perQuery(get('BM_Search/hybrid')), loadMs: get('BM_LoadSnapshot').real_time,
  };
}

async function wasmQueries(pkg, dir, snapshot) {
  const t0 = performance.now();
  const engine = await pkg.createEngine({ snapshot });
  const loadMs = performance.now() - t0;
  const out = { loadMs, api: {} };
  for (const mode of ['bm25', 'dense', 'hybrid']) out.api[mode] = timeQueries(engine, mode);
  engine.dispose();
  out.core = await coreQueries(dir, snapshot);
  return out;
}

async function instantiateNode(dir) {
  const wasm = await readFile(path.join(dir, 'foldback_core.wasm'));
  const { default: factory } = await import(pathToFileURL(path.join(dir, 'foldback_core.mjs')).href);
  const times = [];
  for (let i = 0; i < 7; ++i) {
    const t0 = performance.now();
    const module = await factory({ wasmBinary: wasm });
    const index = new module.Index();
    index.init({});
    times.push(performance.now() - t0);
    index.delete();
  }
  return { first: times[0], median: median(times.slice(1)) };
}

// Headless Chromium on pages served from 127.0.0.1: `pages` maps a page
// name to its module script; `extra` maps other paths to bodies. Runs
// `body(browser, baseUrl)`.
async function withChromium(dir, pages, extra, body) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return { skipped: 'playwright-core is not installed' };
  }
  if (!existsSync('/usr/bin/chromium')) return { skipped: '/usr/bin/chromium is missing' };
  const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
    '.html': 'text/html', '.json': 'application/json' };
  const server = http.createServer(async (req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
    try {
      let content;
      if (pages[name]) content = `<!doctype html><script type="module">\n${pages[name]}\n</script>`;
      else if (extra[name]) content = extra[name];
      else content = await readFile(path.join(dir, path.basename(name)));
      res.writeHead(200, { 'content-type': types[path.extname(name)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(content);
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
    return { version: browser.version(), ...(await body(browser, `http://127.0.0.1:${server.address().port}/`)) };
  } finally {
    await browser.close();
    server.close();
  }
}

async function pageResult(browser, url, timeout, onConsole) {
  const context = await browser.newContext();
  try {
    const p = await context.newPage();
    if (onConsole) p.on('console', (m) => onConsole(m.text()));
    await p.goto(url);
    const r = await p.waitForFunction(() => window.__result, null, { timeout, polling: 200 });
    return await r.jsonValue();
  } finally {
    await context.close();
  }
}

// The time from starting to import the package to a created engine (fetch +
// compile + instantiate + first Index), each run in a fresh context.
async function instantiateChromium(dir) {
  const script = 'const t0 = performance.now();\n' +
    'const { createEngine } = await import("./index.js");\n' +
    'const t1 = performance.now();\n' +
    'const e = await createEngine();\n' +
    'const t2 = performance.now();\n' +
    'window.__result = { total: t2 - t0, instantiate: t2 - t1, stats: e.stats() };';
  return withChromium(dir, { 'instantiate.html': script }, {}, async (browser, base) => {
    const runs = [];
    for (let i = 0; i < 9; ++i) runs.push(await pageResult(browser, `${base}instantiate.html`, 30000));
    const inst = runs.map((r) => r.instantiate);
    const total = runs.map((r) => r.total);
    return { median: median(inst), all: inst, totalMedian: median(total), totalAll: total };
  });
}

// The corpus ingested inside a Chromium page with a progress callback.
async function ingestChromium(dir, docs) {
  const script = 'const { createEngine } = await import("./index.js");\n' +
    'const docs = await (await fetch("./corpus.json")).json();\n' +
    'const e = await createEngine();\n' +
    'let calls = 0, tenth = -1;\n' +
    'const t0 = performance.now();\n' +
    'await e.addMany(docs, { batchSize: 10, onProgress: ({ done, total, chunks }) => {\n' +
    '  ++calls; const t = Math.floor(10 * done / total);\n' +
    '  if (t !== tenth) { tenth = t; console.log(`  [chromium] ingest ${done}/${total} documents, ${chunks} chunks`); } } });\n' +
    'const t1 = performance.now();\n' +
    'e.buildDense();\n' +
    'const t2 = performance.now();\n' +
    'window.__result = { addMs: t1 - t0, denseMs: t2 - t1, progressCalls: calls, stats: e.stats(),\n' +
    '  hits: e.search("governing law", { mode: "hybrid", topK: 3 }).map((h) => h.docId) };';
  const corpus = JSON.stringify(docs);
  return withChromium(dir, { 'ingest.html': script }, { 'corpus.json': corpus }, async (browser, base) =>
    pageResult(browser, `${base}ingest.html`, 600000, log));
}

async function instantiationOnly() {
  const node = await instantiateNode(builds.simd);
  console.log(`instantiation in Node (compile + instantiate + first Index): first ${ms(node.first)}, then median ${ms(node.median)}`);
  if (!useChromium) return;
  const c = await instantiateChromium(builds.simd);
  if (c.skipped) {
    console.log(`Chromium: skipped (${c.skipped})`);
    return;
  }
  console.log(`instantiation in headless Chromium ${c.version}, fresh context each run: fetch .wasm + compile + instantiate + first Index ` +
    `median ${ms(c.median)} (${c.all.map((x) => x.toFixed(0)).join(', ')} ms); with the import of the package's JS modules before it, ` +
    `median ${ms(c.totalMedian)} (${c.totalAll.map((x) => x.toFixed(0)).join(', ')} ms)`);
}

async function main() {
  if (instantiateOnly) return instantiationOnly();
  const simd = await loadPackage(builds.simd);
  if (!simd) throw new Error(`no wasm build at ${builds.simd}: run ./run.sh build`);
  const scalar = await loadPackage(builds.scalar);
  if (!scalar) log(`(no scalar build at ${builds.scalar}: cmake --preset wasm-scalar && cmake --build --preset wasm-scalar)`);

  if (!corpusDir || !existsSync(corpusDir)) throw new Error('--corpus DIR (a folder of .txt contracts) is needed');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'foldback-parity-'));
  try {
    log(`ingesting ${corpusDir} in wasm (SIMD)`);
    const ing = await ingest(simd);
    results.ingest = {
      documents: ing.docs, megabytes: ing.mb, chunks: ing.stats.chunks,
      wasm: { addMs: ing.addMs, mbPerS: ing.mb / (ing.addMs / 1000), denseMs: ing.denseMs },
    };
    log('ingesting the same folder natively (foldback ingest)');
    results.ingest.native = nativeIngest(path.join(tmp, 'native-index'));

    const snapshot = ing.engine.snapshot();
    ing.engine.dispose();
    const snapshotPath = path.join(tmp, 'index.fbsnap');
    const queriesPath = path.join(tmp, 'queries.txt');
    await writeFile(snapshotPath, snapshot);
    await writeFile(queriesPath, `${queries.join('\n')}\n`);
    results.snapshotMB = snapshot.length / 1e6;

    log('queries: native');
    results.native = nativeQueries(snapshotPath, queriesPath);
    log('queries: wasm SIMD');
    results.simd = await wasmQueries(simd, builds.simd, snapshot);
    if (scalar) {
      log('queries: wasm scalar');
      results.scalar = await wasmQueries(scalar, builds.scalar, snapshot);
    }

    results.size = {};
    for (const [name, dir] of Object.entries(builds)) {
      const file = path.join(dir, 'foldback_core.wasm');
      if (!existsSync(file)) continue;
      const bytes = await readFile(file);
      results.size[name] = { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
    }
    log('instantiation: Node');
    results.instantiate = { node: await instantiateNode(builds.simd) };
    if (useChromium) {
      log('instantiation: Chromium (headless)');
      results.instantiate.chromium = await instantiateChromium(builds.simd);
      log('ingest: Chromium (headless)');
      results.ingest.chromium = await ingestChromium(builds.simd, corpusDocs);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  report();
  if (jsonOut) await writeFile(jsonOut, JSON.stringify(results, null, 2));
}

function report() {
  const r = results;
  const lines = [];
  lines.push(`machine: ${r.machine}; corpus: ${r.ingest.documents} contracts, ${r.ingest.megabytes.toFixed(1)} MB, ${r.ingest.chunks} chunks; snapshot ${r.snapshotMB.toFixed(1)} MB`);
  lines.push('');
  const cell = (x) => (x ? `${us(x.cpu)} (${us(x.wall)})` : '—');
  const ratio = (x, n) => (x && n ? `${(x.cpu / n.cpu).toFixed(2)}×` : '—');
  lines.push('Search, top 10, mean of 20 queries, after warm-up; CPU time per query (wall time in parentheses; the machine is shared).');
  lines.push('Core: Index::Search alone (snapshot_bench natively, the benchmark module in wasm). API: engine.search() from JS, hits materialized as JS objects.');
  lines.push('');
  lines.push('| search | native | wasm SIMD core | wasm scalar core | SIMD / native | scalar / native | wasm SIMD API | wasm scalar API |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const mode of ['bm25', 'dense', 'hybrid']) {
    const n = r.native && r.native[mode];
    const s = r.simd.core && r.simd.core[mode];
    const c = r.scalar && r.scalar.core && r.scalar.core[mode];
    lines.push(`| ${mode === 'dense' ? 'dense (HNSW)' : mode} | ${cell(n)} | ${cell(s)} | ${cell(c)} | ${ratio(s, n)} | ${ratio(c, n)} | ` +
      `${cell(r.simd.api[mode])} | ${r.scalar ? cell(r.scalar.api[mode]) : '—'} |`);
  }
  lines.push('');
  lines.push(`snapshot load: native ${r.native ? ms(r.native.loadMs) : '—'}, wasm SIMD ${ms(r.simd.loadMs)}, wasm scalar ${r.scalar ? ms(r.scalar.loadMs) : '—'}`);
  lines.push('');
  const w = r.ingest.wasm;
  const n = r.ingest.native;
  lines.push(`ingest (chunk, metadata, BM25): wasm ${ms(w.addMs)} (${w.mbPerS.toFixed(1)} MB/s)` +
    (n ? `, native ${ms(n.addMs)} (${n.mbPerS} MB/s)` : ''));
  lines.push(`dense build (static embedder training + HNSW): wasm ${ms(w.denseMs)}` + (n && n.denseMs ? `, native ${ms(n.denseMs)}` : ''));
  const ci = r.ingest.chromium;
  if (ci && !ci.skipped) {
    lines.push(`ingest in headless Chromium: ${r.ingest.documents} contracts in ${ms(ci.addMs)} ` +
      `(${(r.ingest.megabytes / (ci.addMs / 1000)).toFixed(1)} MB/s, ${ci.progressCalls} progress callbacks), ` +
      `dense build ${ms(ci.denseMs)}; ${ci.stats.chunks} chunks, ${ci.stats.vectors} vectors`);
  }
  for (const [name, s] of Object.entries(r.size)) {
    lines.push(`core .wasm (${name}): ${(s.bytes / 1e6).toFixed(2)} MB, ${(s.gzip / 1e6).toFixed(2)} MB gzipped (-9)`);
  }
  lines.push(`instantiation in Node (compile + instantiate + first Index): first ${ms(r.instantiate.node.first)}, then median ${ms(r.instantiate.node.median)}`);
  const c = r.instantiate.chromium;
  if (c && !c.skipped) {
    lines.push(`instantiation in headless Chromium ${c.version}, fresh context each run: fetch .wasm + compile + instantiate + first Index ` +
      `median ${ms(c.median)} (${c.all.map((x) => x.toFixed(0)).join(', ')} ms); with the import of the package's JS modules before it, ` +
      `median ${ms(c.totalMedian)} (${c.totalAll.map((x) => x.toFixed(0)).join(', ')} ms)`);
  } else if (c) {
    lines.push(`Chromium: skipped (${c.skipped})`);
  }
  console.log(lines.join('\n'));
}

await main();
