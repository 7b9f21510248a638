// What the fetch host (@foldback/core/host) costs per request, the endpoint
// answering at once: the loopback OpenAI-compatible test server, one LLM
// need performed after the other. Compares two packages in one run (say,
// before and after a change), alternating rounds so that a noisy machine
// hurts both alike; wall time and the process's CPU time (host and server
// together) per request. A benchmark script, not a test:
//
//   node wasm/bench/host_bench.mjs [--package build/wasm/package] [--baseline DIR] [--requests 2000] [--rounds 3]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOpenAiServer } from '../test/openai_server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const packages = [path.resolve(root, opt('--package', 'build/wasm/package'))];
if (opt('--baseline', null)) packages.unshift(path.resolve(opt('--baseline', null)));
const requests = Number(opt('--requests', '2000'));
const rounds = Number(opt('--rounds', '3'));

const server = await startOpenAiServer();
const need = {
  id: 1, kind: 'llm', hop: 1, purpose: 'rewrite', timeoutMs: 0, temperature: 0, maxTokens: 64, jsonSchema: '',
  jsonSchemaName: '', messages: [{ role: 'system', content: 'You write search queries.' },
    { role: 'user', content: 'Question: can either party terminate for convenience, and on what notice?' }],
};
const hosts = [];
for (const dir of packages) {
  const { createEngine } = await import(path.join(dir, 'index.js'));
  const { createLlmHost } = await import(path.join(dir, 'host.js'));
  await createEngine({ index: { embedder: 'none' } });  // loads the package's module
  hosts.push({ dir, host: createLlmHost({ endpoint: server.endpoint, model: 'm', apiKey: 'sk-bench-0123456789abcdef' }), ms: [], cpu: [] });
}
for (const h of hosts) for (let i = 0; i < 200; ++i) await h.host.perform(need);  // warm-up
for (let r = 0; r < rounds; ++r) {
  for (const h of hosts) {
    server.reset();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < requests; ++i) {
      const res = await h.host.perform(need);
      if (!res.ok) throw new Error(res.error.message);
    }
    h.ms.push((performance.now() - t0) / requests);
    const c = process.cpuUsage(c0);
    h.cpu.push((c.user + c.system) / 1000 / requests);
  }
}
server.close();
for (const h of hosts) {
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const us = (v) => v.map((x) => (x * 1000).toFixed(0)).join(', ');
  console.log(`${path.relative(root, h.dir) || h.dir}: wall ${us(h.ms)} us per request (median ${(median(h.ms) * 1000).toFixed(0)}); ` +
    `CPU of the process (host + server) ${us(h.cpu)} us (median ${(median(h.cpu) * 1000).toFixed(0)})`);
}
