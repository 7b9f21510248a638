// What `train` costs natively and in the npm package, on the same index
// (issue 12's training-cost target: `foldback train` on the 510 CUAD
// contracts in under 2 minutes on one core natively, wasm within 2× of
// native).
//
// Both sides start from the same snapshot (the index `foldback ingest`
// built, its static embedder and HNSW graph included) and train with the
// same options (the defaults: structure sources, the seed given):
//
//   native   `foldback train --index COPY --seed S --json` on a fresh copy
//            of the index folder, pinned to one core (taskset -c 0): mining
//            (EmbedderTrainer::Start), the steps, the install (every chunk
//            re-embedded, the HNSW graph rebuilt) as the command reports
//            them; the snapshot save after them is not counted;
//   wasm     `engine.train({seed})` in Node on an engine created from the
//            same snapshot bytes: mining (trainer.start) and the first step
//            until the first progress callback, the other steps until the
//            last, the install until the promise resolves. The yields to
//            the event loop every 8 steps are inside the timer.
//
// Rounds alternate the two sides; the table gives each phase's median.
// The losses before and after are printed for both: the same pairs and
// steps give the same losses up to floating-point rounding.
//
//   build/bin/foldback ingest --index IDX $D/cuad/full_contract_txt
//   node wasm/bench/train_bench.mjs --index IDX [--foldback build/bin/foldback]
//        [--package build/wasm/package] [--seed 42] [--rounds 3]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const indexDir = opt('--index', null);
if (!indexDir) {
  console.error('usage: node wasm/bench/train_bench.mjs --index IDX [--foldback BIN] [--package DIR] [--seed 42] [--rounds 3]');
  process.exit(2);
}
const foldback = path.resolve(root, opt('--foldback', 'build/bin/foldback'));
const pkg = path.resolve(root, opt('--package', 'build/wasm/package'));
const seed = Number(opt('--seed', '42'));
const rounds = Number(opt('--rounds', '3'));
const snapshotPath = path.join(indexDir, 'index.fbsnap');
const snapshot = new Uint8Array(fs.readFileSync(snapshotPath));
const { createEngine } = await import(pathToFileURL(path.join(pkg, 'index.js')));

async function native() {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'fb-train-bench-'));
  try {
    fs.copyFileSync(snapshotPath, path.join(copy, 'index.fbsnap'));
    const out = execFileSync('taskset', ['-c', '0', foldback, 'train', '--index', copy, '--seed', String(seed), '--json'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 });
    const r = JSON.parse(out);
    return { mine: r.mine_s, steps: r.train_s, install: r.embed_s, pairs: r.pairs_total, nsteps: r.steps,
      lossBefore: r.loss_before, lossAfter: r.loss_after };
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

async function wasm() {
  const engine = await createEngine({ snapshot });
  try {
    let first = 0, last = 0;
    const t0 = performance.now();
    const r = await engine.train({ seed }, {
      onProgress: () => { last = performance.now(); if (!first) first = last; },
    });
    const t3 = performance.now();
    return { mine: (first - t0) / 1000, steps: (last - first) / 1000, install: (t3 - last) / 1000,
      pairs: r.pairs.total, nsteps: r.steps, lossBefore: r.lossBefore, lossAfter: r.lossAfter };
  } finally {
    engine.dispose();
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const runs = { native: [], wasm: [] };
for (let i = 0; i < rounds; i++) {
  for (const [name, fn] of i % 2 ? [['wasm', wasm], ['native', native]] : [['native', native], ['wasm', wasm]]) {
    const r = await fn();
    runs[name].push(r);
    console.error(`round ${i + 1} ${name}: mine ${r.mine.toFixed(2)} s, ${r.nsteps} steps ${r.steps.toFixed(2)} s, ` +
      `install ${r.install.toFixed(2)} s; ${r.pairs} pairs, loss ${r.lossBefore.toFixed(4)} -> ${r.lossAfter.toFixed(4)}`);
  }
}
const row = (label, key) => {
  const n = median(runs.native.map((r) => r[key])), w = median(runs.wasm.map((r) => r[key]));
  return `| ${label} | ${n.toFixed(2)} s | ${w.toFixed(2)} s | ${(w / n).toFixed(2)}× |`;
};
for (const side of ['native', 'wasm']) runs[side].forEach((r) => { r.total = r.mine + r.steps + r.install; });
console.log(`train, seed ${seed}, ${rounds} round(s), medians (native pinned to one core; wasm in Node ${process.version})`);
console.log('| phase | native | wasm | wasm ÷ native |');
console.log('|---|---|---|---|');
console.log(row('mining the pairs', 'mine'));
console.log(row('steps', 'steps'));
console.log(row('install (re-embed, HNSW)', 'install'));
console.log(row('**total**', 'total'));
const n0 = runs.native[0], w0 = runs.wasm[0];
console.log(`pairs ${n0.pairs} / ${w0.pairs}, steps ${n0.nsteps} / ${w0.nsteps}; ` +
  `loss ${n0.lossBefore.toFixed(4)} -> ${n0.lossAfter.toFixed(4)} (native), ${w0.lossBefore.toFixed(4)} -> ${w0.lossAfter.toFixed(4)} (wasm)`);
