// The engine's dedicated worker, started by the offscreen document (a service
// worker cannot start workers; that is the offscreen document's reason,
// WORKERS). It hosts the WebAssembly engine, its IndexedDB storage and its
// LLM calls, off the offscreen document's main thread. It has no extension
// APIs: the offscreen document relays the background's requests to it and
// its replies back.

import { LocalEngine } from '../shared/engine-adapter';
import { openStorage } from '@foldback/core/storage';
import { ALLOWED_ORIGINS } from '../shared/boot';
import type { EngineOp, Envelope, Reply } from './protocol';

const enginePromise = (async () => LocalEngine.open({
  storage: await openStorage({ name: 'foldback-browser' }),
  wasmUrl: new URL('foldback_core.wasm', self.location.href).href,
  allowedOrigins: ALLOWED_ORIGINS,
}))();

async function run(engine: LocalEngine, body: EngineOp, event: (r: Reply) => void, id: number): Promise<unknown> {
  if (body.op === 'search' || body.op === 'ask') {
    // The background attaches the managed policy to every search and ask;
    // without it nothing is decided here (fail closed).
    if (!body.policy) throw new Error('no policy decision came with the request');
    engine.setPolicy(body.policy, body.policyProblems ?? []);
  }
  switch (body.op) {
    case 'status': return engine.status();
    case 'index': return engine.index(body.docs);
    case 'remove': return engine.remove(body.id);
    case 'documents': return engine.documents();
    case 'loadSnapshot': return engine.loadSnapshot(new Uint8Array(body.bytes), body.name);
    case 'search': return engine.search(body.query, body.options ?? {});
    case 'ask': return engine.ask(body.question, body.options, (e) => event({ id, ok: true, event: e }), body.llm);
    case 'feedback': return engine.feedback(body.input);
    case 'history': return engine.history();
    case 'exportFeedback': return engine.exportFeedback(body.format);
    case 'forgetMatter': return engine.forgetMatter(body.matter);
    default: throw new Error('unknown engine request');
  }
}

const post = (r: Reply) => (self as unknown as { postMessage(m: unknown): void }).postMessage(r);

self.addEventListener('message', async (e: MessageEvent<Envelope<EngineOp>>) => {
  const id = e.data?.id;
  try {
    const engine = await enginePromise;
    const value = await run(engine, e.data.body, post, id);
    post({ id, ok: true, value });
  } catch (err) {
    post({ id, ok: false, error: (err as Error).message });
  }
});
