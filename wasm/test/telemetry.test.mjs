// engine.ask's OpenTelemetry spans through the page's @opentelemetry/api and
// a real SDK tracer provider (an in-memory exporter): the spans the core
// builds from the trace — the same names, parents and gen_ai.* attributes as
// the native hosts' — and no question, passage or key unless asked for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as otel from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startOpenAiServer } from './openai_server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkgDir = process.env.FOLDBACK_WASM_PKG ? path.dirname(process.env.FOLDBACK_WASM_PKG)
  : path.join(root, 'build/wasm/package');
const { createEngine } = await import(path.join(pkgDir, 'index.js'));
const { createLlmHost } = await import(path.join(pkgDir, 'host.js'));

const KEY = 'sk-otel-js-canary-42aa7c';
const exporter = new InMemorySpanExporter();
let server;

before(async () => {
  otel.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  server = await startOpenAiServer();
});
after(() => server?.close());

const query = (q) => ({ reply: `[[ ## query ## ]]\n${q}\n\n[[ ## completed ## ]]` });

async function engine() {
  const e = await createEngine({ index: { embedder: 'none' } });
  e.add([
    { id: 'msa', matter: 'm-a', text: 'Termination. The supplier may terminate on ninety days written notice. Quetzal clause.' },
    { id: 'nda', matter: 'm-a', text: 'Confidentiality survives termination of this agreement for three years.' },
  ]);
  return e;
}

test('an ask sends the core\'s spans to the page\'s tracer provider, without content', async () => {
  exporter.reset();
  server.reset();
  server.script(query('supplier terminate notice'), query('confidentiality survives'));
  const e = await engine();
  const host = createLlmHost({ endpoint: server.endpoint, model: 'test-model', apiKey: KEY });
  const r = await e.ask('Quetzal supplier termination notice?', { hops: 2, otel }, host);
  const spans = exporter.getFinishedSpans();
  assert.ok(spans.length >= 5, `spans: ${spans.map((s) => s.name)}`);
  const byName = (n) => spans.filter((s) => s.name === n);
  const [rootSpan] = byName('invoke_agent foldback');
  assert.ok(rootSpan);
  assert.equal(rootSpan.attributes['gen_ai.operation.name'], 'invoke_agent');
  assert.equal(rootSpan.attributes['foldback.trace_id'], r.traceId);
  const hops = spans.filter((s) => s.name.startsWith('hop '));
  assert.equal(hops.length, 2);
  const parentOf = (s) => s.parentSpanContext?.spanId ?? s.parentSpanId;
  for (const h of hops) assert.equal(parentOf(h), rootSpan.spanContext().spanId);
  const chats = byName('chat test-model');
  assert.equal(chats.length, 2);
  for (const c of chats) {
    assert.equal(c.kind, otel.SpanKind.CLIENT);
    assert.equal(c.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(c.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(c.attributes['gen_ai.request.model'], 'test-model');
    assert.equal(c.attributes['server.address'], '127.0.0.1');
    assert.equal(c.attributes['gen_ai.usage.input_tokens'], 1);  // the reply's usage, through the host
    assert.ok(hops.some((h) => h.spanContext().spanId === parentOf(c)));
    assert.equal(c.spanContext().traceId, rootSpan.spanContext().traceId);
  }
  const all = JSON.stringify(spans.map((s) => ({ n: s.name, a: s.attributes })));
  assert.ok(!all.includes('Quetzal'), 'no question or passage text by default');
  assert.ok(!all.includes(KEY.slice(3, 15)));
  e.dispose?.();
});

test('content only when asked for; no otel option, no spans; a broken API never fails the ask', async () => {
  exporter.reset();
  server.reset();
  server.script(query('supplier terminate notice'));
  const e = await engine();
  const host = createLlmHost({ endpoint: server.endpoint, model: 'test-model', apiKey: KEY });
  await e.ask('Quetzal supplier termination notice?', { hops: 1, otel, otelCaptureContent: true }, host);
  const root = exporter.getFinishedSpans().find((s) => s.name === 'invoke_agent foldback');
  assert.equal(root.attributes['foldback.question'], 'Quetzal supplier termination notice?');
  exporter.reset();
  await e.ask('Quetzal?', { hops: 1, rewrite: 'rm3' });
  assert.equal(exporter.getFinishedSpans().length, 0);
  const r = await e.ask('Quetzal?', { hops: 1, rewrite: 'rm3', otel: { trace: {} } });
  assert.ok(r.traceId);
  e.dispose?.();
});
