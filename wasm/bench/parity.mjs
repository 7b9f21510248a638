// Native vs WebAssembly (SIMD and scalar), same data, same machine, one run.
// A benchmark script, not a test:
//
//   ./run.sh build && cmake --preset wasm-scalar && cmake --build --preset wasm-scalar
//   cmake --build build --target snapshot_bench
//   node wasm/bench/parity.mjs [--corpus DIR] [--seconds S] [--no-chromium] [--json FILE]
//
// 1. ingests the corpus (default: the 510 CUAD contracts) in wasm (SIMD) with
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
const corpusDir = opt('--corpus', '/work/shared/data/cuad/full_contract_txt');
const seconds = Number(opt('--seconds', '2'));
const jsonOut = opt('--json', null);
const withChromium = !args.includes('--no-chromium');

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

// Mean milliseconds per query over rounds of all queries, for `seconds`.
function timeQueries(engine, mode) {
  const o = { mode, topK: 10 };
  for (let i = 0; i < 3; ++i) for (const q of queries) engine.search(q, o);
  let rounds = 0;
  const start = performance.now();
  let now = start;
  while (now - start < seconds * 1000) {
    for (const q of queries) engine.search(q, o);
    ++rounds;
    now = performance.now();
  }
  return (now - start) / (rounds * queries.length);
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
  const perQuery = (b) => b.real_time / queries.length / 1000;  // real_time in µs per iteration
  return {
    bm25: perQuery(get('BM_Search/bm25')), dense: perQuery(get('BM_Search/dense')),
    hybrid: perQuery(get('BM_Search/hybrid')), loadMs: get('BM_LoadSnapshot').real_time,
  };
}

async function wasmQueries(pkg, snapshot) {
  const t0 = performance.now();
  const engine = await pkg.createEngine({ snapshot });
  const loadMs = performance.now() - t0;
  const out = { loadMs };
  for (const mode of ['bm25', 'dense', 'hybrid']) out[mode] = timeQueries(engine, mode);
  engine.dispose();
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

// Serves `dir` on 127.0.0.1 and measures, in fresh headless Chromium
// contexts, the time from starting to import the package to a created
// engine (fetch + compile + instantiate + first Index).
async function instantiateChromium(dir) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return { skipped: 'playwright-core is not installed' };
  }
  if (!existsSync('/usr/bin/chromium')) return { skipped: '/usr/bin/chromium is missing' };
  const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
  const page = '<!doctype html><script type="module">\n' +
    'const t0 = performance.now();\n' +
    'const { createEngine } = await import("./index.js");\n' +
    'const e = await createEngine();\n' +
    'window.__result = { ms: performance.now() - t0, stats: e.stats() };\n' +
    '</script>';
  const server = http.createServer(async (req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'bench.html';
    try {
      const body = name === 'bench.html' ? page : await readFile(path.join(dir, path.basename(name)));
      res.writeHead(200, { 'content-type': types[path.extname(name)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/bench.html`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  const times = [];
  try {
    for (let i = 0; i < 7; ++i) {
      const context = await browser.newContext();
      const p = await context.newPage();
      await p.goto(url);
      const r = await p.waitForFunction(() => window.__result, null, { timeout: 30000 });
      times.push((await r.jsonValue()).ms);
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  return { first: times[0], median: median(times), all: times, version: browser.version() };
}

async function main() {
  const simd = await loadPackage(builds.simd);
  if (!simd) throw new Error(`no wasm build at ${builds.simd}: run ./run.sh build`);
  const scalar = await loadPackage(builds.scalar);
  if (!scalar) log(`(no scalar build at ${builds.scalar}: cmake --preset wasm-scalar && cmake --build --preset wasm-scalar)`);

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
    results.simd = await wasmQueries(simd, snapshot);
    if (scalar) {
      log('queries: wasm scalar');
      results.scalar = await wasmQueries(scalar, snapshot);
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
    if (withChromium) {
      log('instantiation: Chromium (headless)');
      results.instantiate.chromium = await instantiateChromium(builds.simd);
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
  lines.push('| query (top 10, mean of 20 queries) | native | wasm SIMD | wasm scalar | SIMD / native | scalar / native |');
  lines.push('|---|---|---|---|---|---|');
  for (const mode of ['bm25', 'dense', 'hybrid']) {
    const n = r.native ? r.native[mode] : NaN;
    const s = r.simd[mode];
    const c = r.scalar ? r.scalar[mode] : NaN;
    lines.push(`| ${mode === 'dense' ? 'dense (HNSW)' : mode} | ${us(n)} | ${us(s)} | ${r.scalar ? us(c) : '—'} | ${(s / n).toFixed(2)}× | ${r.scalar ? `${(c / n).toFixed(2)}×` : '—'} |`);
  }
  lines.push(`| snapshot load | ${r.native ? ms(r.native.loadMs) : '—'} | ${ms(r.simd.loadMs)} | ${r.scalar ? ms(r.scalar.loadMs) : '—'} | | |`);
  lines.push('');
  const w = r.ingest.wasm;
  const n = r.ingest.native;
  lines.push(`ingest (chunk, metadata, BM25): wasm ${ms(w.addMs)} (${w.mbPerS.toFixed(1)} MB/s)` +
    (n ? `, native ${ms(n.addMs)} (${n.mbPerS} MB/s)` : ''));
  lines.push(`dense build (static embedder training + HNSW): wasm ${ms(w.denseMs)}` + (n && n.denseMs ? `, native ${ms(n.denseMs)}` : ''));
  for (const [name, s] of Object.entries(r.size)) {
    lines.push(`core .wasm (${name}): ${(s.bytes / 1e6).toFixed(2)} MB, ${(s.gzip / 1e6).toFixed(2)} MB gzipped (-9)`);
  }
  lines.push(`instantiation in Node (compile + instantiate + first Index): first ${ms(r.instantiate.node.first)}, then median ${ms(r.instantiate.node.median)}`);
  const c = r.instantiate.chromium;
  if (c && !c.skipped) {
    lines.push(`instantiation in headless Chromium ${c.version} (import + fetch + compile + instantiate + first Index, fresh context each): median ${ms(c.median)} of ${c.all.length} (${c.all.map((x) => x.toFixed(0)).join(', ')} ms)`);
  } else if (c) {
    lines.push(`Chromium: skipped (${c.skipped})`);
  }
  console.log(lines.join('\n'));
}

await main();
